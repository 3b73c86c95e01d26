"""Named mutants, applied by hand: the faults the safety core must never hide.

mutmut mutates the bodies of undecorated functions. Some of the faults that matter most live
elsewhere (a module constant, a field's bound) or are not one of its operators (a statement
removed). Each entry here states a property, names the exact text that the fault replaces and
the tests that must then fail. A run applies each one alone to a fresh copy of the sources;
the check fails if any of them survives, or if its text no longer occurs exactly once (the code
moved: update the entry, never drop it silently).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Mutant:
    name: str
    protects: str
    """The property a test states, and that this fault breaks."""
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


_BINDING_TESTS = ("tests/test_mutants_binding.py",)
_EXECUTION_TESTS = ("tests/test_mutants_execution.py",)
_WORKFLOW_TESTS = ("tests/temporal/test_mutants_approval_workflow.py",)

CATALOGUE: tuple[Mutant, ...] = (
    Mutant(
        name="canonical-json-unsorted",
        protects="a call's digest does not depend on the order its arguments were written in",
        path="agentflow/binding.py",
        old="json.JSONEncoder(sort_keys=True,",
        new="json.JSONEncoder(sort_keys=False,",
        tests=_BINDING_TESTS,
    ),
    Mutant(
        name="canonical-json-ascii",
        protects="the golden digests: canonical JSON is UTF-8, not \\u escapes",
        path="agentflow/binding.py",
        old="ensure_ascii=False)",
        new="ensure_ascii=True)",
        tests=_BINDING_TESTS,
    ),
    Mutant(
        name="stage-requires-nobody",
        protects="a stage that asks for zero approvals cannot be built",
        path="agentflow/binding.py",
        old="required: int = Field(default=1, ge=1)",
        new="required: int = Field(default=1, ge=0)",
        tests=_BINDING_TESTS,
    ),
    Mutant(
        name="one-person-fills-two-stages",
        protects="nobody's approval counts in two stages",
        path="agentflow/approvals/rules.py",
        old="counted |= valid",
        new="counted &= valid",
        tests=_EXECUTION_TESTS,
    ),
    Mutant(
        name="requester-as-final-approver",
        protects="a requester who is the final approver approves nothing",
        path="agentflow/approvals/rules.py",
        old="if approval.approver is None or approval.approver == requester:",
        new="if approval.approver is None and approval.approver == requester:",
        tests=_EXECUTION_TESTS,
    ),
    Mutant(
        name="body-runs-on-an-unknown-decision",
        protects="a tool body runs only on Allow: anything else the rules answer refuses",
        path="agentflow/execution.py",
        old="        case _:\n"
        "            return ToolDenied(call_id=call.id, reasons=refusal(decision))\n",
        new="        case Deny():\n"
        "            return ToolDenied(call_id=call.id, reasons=refusal(decision))\n"
        "        case _:\n"
        "            return await _run_body(tool, ctx, call, args, raise_errors=raise_errors)\n",
        tests=_EXECUTION_TESTS,
    ),
    Mutant(
        name="edit-accepted-on-an-unknown-decision",
        protects="an approver's edit stands only if the rules allow the edited call",
        path="agentflow/execution.py",
        old="        if not isinstance(decision, Allow):\n",
        new="        if isinstance(decision, Deny | NeedsApproval):\n",
        tests=_EXECUTION_TESTS,
    ),
    Mutant(
        name="all-of-allows-an-unknown-answer",
        protects="a composite of rules allows only when every part allows",
        path="agentflow/preconditions.py",
        old="denied = [d for d in decisions if not isinstance(d, Allow | NeedsApproval)]",
        new="denied = [d for d in decisions if isinstance(d, Deny)]",
        tests=("tests/test_mutants_preconditions.py",),
    ),
    Mutant(
        name="locked-arguments-forgotten",
        protects="an approver's edit of an argument the policy locks is refused",
        path="agentflow/approvals/rules.py",
        old="locked = sorted(set(changed) - set(request.editable))",
        new="locked = []",
        tests=("tests/test_mutants_loop.py",),
    ),
    Mutant(
        name="async-rule-not-awaited",
        protects="an async rule's answer is the rule's answer",
        path="agentflow/preconditions.py",
        old="self._is_async = inspect.iscoroutinefunction(check)",
        new="self._is_async = False",
        tests=("tests/test_preconditions.py",),
    ),
    Mutant(
        name="claim-burns-other-approvals",
        protects="using one approval leaves every other approval of the same call usable",
        path="agentflow/approvals/ledger.py",
        old="                col(ApprovalRecord.approval_id) == approval_id,\n"
        "                col(ApprovalRecord.digest) == decision.request_digest,\n",
        new="                col(ApprovalRecord.digest) == decision.request_digest,\n",
        tests=("tests/approvals/test_mutants_ledger.py",),
    ),
    Mutant(
        name="no-recheck-after-delegation-lookup",
        protects="a vote counted while the delegation was looked up makes the delegate's vote fail",
        path="workflows/approval.py",
        old="            authority = delegation.approver\n"
        "            self._check_still_open(stage, count, authority)\n",
        new="            authority = delegation.approver\n",
        tests=_WORKFLOW_TESTS,
    ),
    Mutant(
        name="validator-refuses-nothing",
        protects="a refused vote never enters the workflow's history",
        path="workflows/approval.py",
        old="    def _validate_vote(self, vote: ApprovalVote) -> None:\n",
        new="    def _validate_vote(self, vote: ApprovalVote) -> None:\n        return\n",
        tests=_WORKFLOW_TESTS,
    ),
    Mutant(
        name="partial-vote-edits",
        protects="only the vote that completes the approval may edit the call",
        path="workflows/approval.py",
        old="if not last or len(self._approved[self._stage]) + 1 < stage.required:",
        new="if False:",
        tests=_WORKFLOW_TESTS,
    ),
)
