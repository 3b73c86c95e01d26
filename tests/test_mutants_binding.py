"""What an approval is bound to must never drift: golden digests, and stages that ask for someone.

An approval authorises the call whose digest it carries. If canonicalisation changed (key order,
escaping, how a decimal is written), approvals recorded before the change would stop matching
their calls, or, worse, two different calls could be written alike. So the digests of a few
calls are pinned here, with the canonical text they are computed from.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from agentflow.binding import (
    ApprovalStage,
    approval_plan,
    call_digest,
    canonical_arguments,
    canonical_json,
)


class Payment(BaseModel):
    to: str
    amount: Decimal
    memo: str = ""
    meta: dict[str, Any] = {}


PAYMENT = Payment(to="Zoë", amount=Decimal("2613.00"), meta={"z": [3, {"b": 2, "a": 1}], "a": None})

# (tool, arguments as written, canonical text, SHA-256 of that text)
GOLDEN: dict[str, tuple[str, dict[str, Any], str, str]] = {
    "no arguments": (
        "ping",
        {},
        '{"arguments":{},"tool":"ping"}',
        "44ad5f972500e58ae69623c9f3c39ddfc7ef0f4e692ae1b4ff000ee980895699",
    ),
    "keys written out of order": (
        "book_flight",
        {"price": 9000.0, "flight_id": "LX40"},
        '{"arguments":{"flight_id":"LX40","price":9000.0},"tool":"book_flight"}',
        "314a748ca0d94faecf9d685717e848479143e655956b776f735cb8a10186b2a6",
    ),
    "nested dicts": (
        "transfer",
        {
            "to": {
                "iban": "CH93 0076 2011 6238 5295 7",
                "bank": {"name": "UBS", "bic": "UBSWCHZH80A"},
            },
            "amount": "120.5",
        },
        '{"arguments":{"amount":"120.5","to":{"bank":{"bic":"UBSWCHZH80A","name":"UBS"},'
        '"iban":"CH93 0076 2011 6238 5295 7"}},"tool":"transfer"}',
        "3fba5844bbfa277473ab40a5638712e0ed5cbea3f7f4050c938764f75522de35",
    ),
    "unicode as UTF-8": (
        "book_hotel",
        {"city": "Zürich", "guest": "Łukasz Ñúñez", "note": "日本語 ✈"},
        '{"arguments":{"city":"Zürich","guest":"Łukasz Ñúñez","note":"日本語 ✈"},'
        '"tool":"book_hotel"}',
        "c22e9038476d916f9106cb026c524d0a784d6c96d630d2bbc9ed5dd9df200c65",
    ),
    "a decimal, by its value": (
        "pay",
        canonical_arguments(PAYMENT),
        '{"arguments":{"amount":"2613","memo":"","meta":{"a":null,"z":[3,{"a":1,"b":2}]},'
        '"to":"Zoë"},"tool":"pay"}',
        "69b3c6255ce0fed3be2d8fe9cce39b9d6fda657f7efe71ffb05bd4cd95e355ae",
    ),
}


@pytest.mark.parametrize("case", GOLDEN, ids=list(GOLDEN))
def test_golden_digests_never_drift(case: str) -> None:
    tool, arguments, text, digest = GOLDEN[case]
    assert canonical_json({"arguments": arguments, "tool": tool}) == text
    assert hashlib.sha256(text.encode()).hexdigest() == digest
    assert call_digest(tool, arguments) == digest


def test_a_digest_does_not_depend_on_the_order_arguments_were_written_in() -> None:
    written = {"b": {"y": 1, "x": 2}, "a": [{"q": 1, "p": 2}]}
    reordered = {"a": [{"p": 2, "q": 1}], "b": {"x": 2, "y": 1}}
    assert call_digest("t", written) == call_digest("t", reordered)
    assert call_digest("t", written) != call_digest("u", written)


def test_the_same_amount_is_the_same_call_however_it_was_written() -> None:
    digests = {
        call_digest("pay", canonical_arguments(PAYMENT.model_copy(update={"amount": amount})))
        for amount in (Decimal("2613"), Decimal("2613.00"), Decimal("2.613E+3"))
    }
    assert digests == {GOLDEN["a decimal, by its value"][3]}


@pytest.mark.parametrize("required", [0, -1])
def test_a_stage_that_asks_for_nobody_cannot_be_built(required: int) -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        ApprovalStage(approvers=("bob",), required=required)


def test_a_stage_asks_for_one_approval_unless_told_otherwise() -> None:
    assert ApprovalStage(approvers=("bob", "carol")).required == 1


def test_in_a_chain_the_first_approver_decides_until_the_request_escalates() -> None:
    (stage,) = approval_plan(("manager", "director", "vp"), ())
    assert stage.eligible(0) == ("manager",)
    assert stage.eligible(1) == ("manager", "director")
    assert stage.eligible(2) == stage.eligible(5) == ("manager", "director", "vp")
    assert stage.eligible() == ("manager", "director", "vp")


def test_stages_given_are_the_plan_whatever_the_chain_says() -> None:
    stages = (ApprovalStage(approvers=("finance",), required=1),)
    assert approval_plan(("manager",), stages) == stages
