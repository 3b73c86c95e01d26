"""The scripted approver: plays the human who decides each approval a scenario asks for."""

from __future__ import annotations

from agentflow.binding import ApprovalDecision, ApprovalRequest
from agentflow.eval.scenario import ApproverBehaviour


def scripted_decision(request: ApprovalRequest, behaviour: ApproverBehaviour) -> ApprovalDecision:
    """Decide ``request`` as ``behaviour`` says, as the channel would report it.

    The decision is what a human (or a compromised channel) sends; whether it authorises the
    call is the runtime's business, which is exactly what a scenario with ``as:`` checks.
    """
    approvers = request.approvers
    match behaviour.action:
        case "expire":
            return request.decide("expired")
        case "escalate":
            # The first approver never answers; the next in the chain decides.
            who = behaviour.as_ or (approvers[1] if len(approvers) > 1 else None)
            if who is None:
                return request.decide("expired")
            outcome = "approved" if behaviour.then == "approve" else "denied"
        case "approve":
            who, outcome = behaviour.as_ or (approvers[0] if approvers else None), "approved"
        case "deny":
            who, outcome = behaviour.as_ or (approvers[0] if approvers else None), "denied"
    return request.decide(outcome, approver=who, reason=behaviour.reason)
