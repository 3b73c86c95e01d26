"""What ``make mutation`` mutates, and which tests may kill each module's mutants.

mutmut runs the tests listed here once, notes which tests reach which function, then runs for
each mutant only the tests that reach its function. ``functions`` narrows a module to part of
it (mutmut's own names: ``x_function``, ``xǁClassǁmethod``, ``*`` as a wildcard).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Module:
    path: str
    tests: tuple[str, ...]
    functions: tuple[str, ...] = ("*",)

    @property
    def dotted(self) -> str:
        return self.path.removesuffix(".py").replace("/", ".")

    def globs(self) -> list[str]:
        """mutmut's names of this module's mutants, as patterns."""
        return [f"{self.dotted}.{function}__mutmut_*" for function in self.functions]

    def covers(self, function: str) -> bool:
        """Whether ``function`` (a mangled name, as in :attr:`functions`) is in scope."""
        return any(fnmatch.fnmatchcase(function, pattern) for pattern in self.functions)


_UNIT = (
    "tests/test_preconditions.py",
    "tests/test_mutants_preconditions.py",
    "tests/test_mutants_binding.py",
    "tests/test_mutants_execution.py",
    "tests/test_mutants_loop.py",
    "tests/test_money.py",
    "tests/test_approval_stages.py",
    "tests/test_approval_edits.py",
    "tests/test_loop.py",
    "tests/test_seams.py",
    "tests/test_agent.py",
    "tests/test_tools.py",
    "tests/test_output.py",
)
_RECORDED = ("tests/audit/test_audit_before_act.py", "tests/test_provenance.py")
"""The executor's record before it acts and the provenance of its arguments."""
_LEDGER = ("tests/approvals/test_ledger.py", "tests/approvals/test_mutants_ledger.py")
_WORKFLOW = (
    "tests/temporal/test_approval_workflow.py",
    "tests/temporal/test_approval_stages.py",
    "tests/temporal/test_mutants_approval_workflow.py",
    "tests/approvals/test_edits.py",
)

MODULES: tuple[Module, ...] = (
    Module(path="agentflow/preconditions.py", tests=_UNIT),
    Module(path="agentflow/binding.py", tests=_UNIT),
    Module(path="agentflow/execution.py", tests=(*_UNIT, *_RECORDED)),
    Module(path="agentflow/loop.py", tests=_UNIT),
    Module(path="agentflow/approvals/rules.py", tests=(*_UNIT, *_WORKFLOW)),
    Module(path="agentflow/approvals/ledger.py", tests=_LEDGER),
    Module(
        path="workflows/approval.py",
        tests=_WORKFLOW,
        # The decision path: counting a vote and refusing one. Reminders, escalation timers and
        # notices are the workflow's schedule, tested apart from mutation.
        functions=(
            "xǁApprovalWorkflowǁ_count_vote",
            "xǁApprovalWorkflowǁ_check_vote",
            "xǁApprovalWorkflowǁ_validate_delegation",
            "xǁApprovalWorkflowǁ_validate_edit",
            "xǁApprovalWorkflowǁ_verified_signature",
            "xǁApprovalWorkflowǁ_verified_delegation",
            "xǁApprovalWorkflowǁ_checked_edit",
            "xǁApprovalWorkflowǁ_check",
            "xǁApprovalWorkflowǁ_check_still_open",
            "xǁApprovalWorkflowǁ_stage_approvals",
            "xǁApprovalWorkflowǁ_partial",
            "xǁApprovalWorkflowǁ_end",
        ),
    ),
)
