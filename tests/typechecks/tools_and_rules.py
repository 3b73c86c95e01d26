"""What a type checker sees between a tool's arguments model and its rules.

Not run: pyright checks it (``make typecheck``, and tests/test_typechecks.py on its own). Each
line that must be an error carries ``# pyright: ignore[rule]``; with unnecessary ignores
reported as errors, a line that stops being an error fails the check.
"""

# pyright: strict, reportUnnecessaryTypeIgnoreComment=error

from typing import Any, assert_type

from pydantic import BaseModel

from agentflow import Allow, Decision, Deny, Precondition, RunContext, Tool, precondition, tool


class BookingRequest(BaseModel):
    offer_id: str
    price: float


class Refund(BaseModel):
    order: str
    amount: float


@precondition
def under_cap(ctx: RunContext[Any], args: BookingRequest) -> Decision:
    return Allow() if args.price <= 1000 else Deny("above the cap")


@precondition
def misspelt(ctx: RunContext[Any], args: BookingRequest) -> Decision:
    return Allow() if args.prise <= 1000 else Deny("above the cap")  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]


@precondition
def refund_cap(ctx: RunContext[Any], args: Refund) -> Decision:
    return Allow() if args.amount <= 100 else Deny("above 100")


@precondition
def anything(ctx: RunContext[Any], args: Any) -> Decision:
    return Allow()


assert_type(under_cap, Precondition[BookingRequest])
assert_type(under_cap & anything, Precondition[BookingRequest])


@tool(args_model=BookingRequest, requires=under_cap & anything, side_effects=True)
def book(request: BookingRequest) -> str:
    return request.offer_id


assert_type(book, Tool[Any, BookingRequest])
assert_type(book.validate({}), BookingRequest)
assert_type(book.requiring(under_cap), Tool[Any, BookingRequest])
book.requiring(refund_cap)  # pyright: ignore[reportArgumentType]


# A rule written for another model cannot guard the tool.
@tool(args_model=BookingRequest, requires=refund_cap)  # pyright: ignore[reportArgumentType]
def book_again(request: BookingRequest) -> str:
    return request.offer_id


def refund(request: Refund) -> str:
    return request.order


refunds = Tool.from_model("refund", Refund, refund, requires=refund_cap)
assert_type(refunds, Tool[Any, Refund])
Tool.from_model("refund", Refund, refund, requires=under_cap)  # pyright: ignore[reportArgumentType]

# A lambda reads any arguments; a keyword tool accepts any rule, as before.
lenient = precondition(lambda ctx, args: Allow() if args.amount < 5 else Deny("no"))


@tool(requires=lenient)
def pay(amount: float) -> str:
    return f"paid {amount}"


assert_type(pay, Tool[Any])
