"""What each step's span says: OpenTelemetry ``gen_ai.*`` attributes where they exist, ours else.

One module builds the attributes for both drivers (the in-process
[`AuditHandler`][agentflow.audit.AuditHandler] and the Temporal activities), so a conversation reads
the same in the audit trail however it ran. Names follow the OpenTelemetry GenAI semantic
conventions (``gen_ai.operation.name``, ``gen_ai.usage.input_tokens``,
``gen_ai.tool.call.arguments``, ...); what they do not cover — precondition verdicts, approvals —
lives under ``agentflow.*``.

Content (messages, tool arguments and results, approval arguments) passes through
`Content`, which redacts it or, when content recording is off, leaves it out entirely.
Reasons and rule texts are always kept, redacted: they are why the agent did what it did.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.util.types import AttributeValue

from agentflow.attachments import digest as attachment_digest
from agentflow.audit.redaction import Redact, Redactor, redact_value
from agentflow.binding import ApprovalDecision, ApprovalRequest
from agentflow.events import ModelRetrying
from agentflow.intent import Intent
from agentflow.messages import (
    ContentBlock,
    DocumentBlock,
    ImageBlock,
    Message,
    ModelRequest,
    ModelResponse,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolDefinition,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)
from agentflow.outcomes import ToolDenied, ToolFailed, ToolNeedsApproval, ToolOutcome, ToolReturned
from agentflow.preconditions import Allow, Deny, Evaluation

Attributes = dict[str, AttributeValue]

# OpenTelemetry GenAI semantic conventions.
OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE = "gen_ai.request.temperature"
REQUEST_TOP_P = "gen_ai.request.top_p"
REQUEST_STOP_SEQUENCES = "gen_ai.request.stop_sequences"
RESPONSE_MODEL = "gen_ai.response.model"
FINISH_REASONS = "gen_ai.response.finish_reasons"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
CACHE_CREATION_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
CACHE_READ_TOKENS = "gen_ai.usage.cache_read.input_tokens"
INPUT_MESSAGES = "gen_ai.input.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
TOOL_DEFINITIONS = "gen_ai.tool.definitions"
RESPONSE_ID = "gen_ai.response.id"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
SYSTEM = "gen_ai.system"
"""The provider's name under the attribute older conventions (and the tools reading them) use."""
SESSION_ID = "session.id"
"""The conversation id as Langfuse, Phoenix and other LLM-observability tools group by it."""
USER_ID = "user.id"
"""The employee as those tools name users (alongside ``enduser.id``)."""
OUTPUT_MESSAGES = "gen_ai.output.messages"
CONVERSATION_ID = "gen_ai.conversation.id"
AGENT_NAME = "gen_ai.agent.name"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_TYPE = "gen_ai.tool.type"
TOOL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_RESULT = "gen_ai.tool.call.result"
TOOL_ATTACHMENTS = "agentflow.tool.attachments"
"""The images and PDFs a tool returned: type, size and SHA-256 of each, as JSON."""
ERROR_TYPE = "error.type"
USER = "enduser.id"

# agentflow's own.
KIND = "agentflow.step"
"""Which kind of step a span records; the trace viewer keys on it."""
TOOL_OUTCOME = "agentflow.tool.outcome"
TOOL_REASONS = "agentflow.tool.reasons"
TOOL_ERROR_DETAIL = "agentflow.tool.error.detail"
"""An unexpected exception's type and text: for the trail, never shown to the model."""
TOOL_DIGEST = "agentflow.tool.call.digest"
DECISION = "agentflow.precondition.decision"
RULES = "agentflow.precondition.rules"
VERDICTS = "agentflow.precondition.verdicts"
REASONS = "agentflow.precondition.reasons"
APPROVED_BY = "agentflow.precondition.approved_by"
PROVENANCE = "agentflow.precondition.provenance"
"""Where each argument came from when the rules were evaluated: ``path: source`` lines."""
RULE_EVENT = "agentflow.rule"
RULE_NAME = "agentflow.rule.name"
RULE_VERDICT = "agentflow.rule.verdict"
RULE_REASONS = "agentflow.rule.reasons"
APPROVAL_ID = "agentflow.approval.id"
APPROVAL_EVENT = "agentflow.approval.event"
APPROVAL_TOOL = "agentflow.approval.tool"
APPROVAL_DIGEST = "agentflow.approval.digest"
APPROVAL_REQUESTER = "agentflow.approval.requester"
APPROVAL_APPROVERS = "agentflow.approval.approvers"
APPROVAL_REASONS = "agentflow.approval.reasons"
APPROVAL_ARGUMENTS = "agentflow.approval.arguments"
APPROVAL_OUTCOME = "agentflow.approval.outcome"
APPROVAL_APPROVER = "agentflow.approval.approver"
APPROVAL_DECISION_REASON = "agentflow.approval.decision_reason"
APPROVAL_DECIDED_BY = "agentflow.approval.decided_by"
"""The person who decided: the approver, or their delegate (``approver`` is the authority)."""
VOTE_APPROVE = "agentflow.vote.approve"
VOTE_RESULT = "agentflow.vote.result"
VOTE_REJECTION = "agentflow.vote.rejection"
VOTE_CHANNEL = "agentflow.vote.channel"
"""Where a refused decision came from: ``slack``, ``web``, ``cli``."""
VOTE_CHANNEL_USER = "agentflow.vote.channel_user"
"""Who tried, as that channel names them (a Slack user id), when it has a name of its own."""
SLACK_REJECTION = "agentflow.slack.rejection"
"""Why the Slack endpoint rejected a request before reading it."""
SLACK_TIMESTAMP = "agentflow.slack.request_timestamp"
"""The request's ``X-Slack-Request-Timestamp`` header, as sent (shortened when long)."""
CLIENT_ADDRESS = "client.address"
USER_MESSAGE = "agentflow.user_message"
REPLY_STATUS = "agentflow.reply.status"
MESSAGE_REJECTION = "agentflow.message.rejection"
RUN_STATUS = "agentflow.run.status"
TOOL_SIDE_EFFECTS = "agentflow.tool.side_effects"
APPROVAL_KEY = "agentflow.approval.key"
APPROVAL_STAGES = "agentflow.approval.stage_approvals"

CONTENT_KEYS = frozenset(
    {INPUT_MESSAGES, OUTPUT_MESSAGES, TOOL_ARGUMENTS, TOOL_RESULT, APPROVAL_ARGUMENTS, USER_MESSAGE}
)
"""Attributes that carry content: redacted when recorded, absent when content is off."""


@dataclass(frozen=True, kw_only=True)
class Content:
    """How content is recorded: through ``redact``, or (``record=False``) not at all."""

    redact: Redact = field(default_factory=Redactor)
    record: bool = True
    instructions: bool = False
    """Record each model call's system instructions and tool definitions (opt-in: the same
    text on every call; ``record`` must be on too)."""

    def text(self, text: str) -> str | None:
        return self.redact(text) if self.record else None

    def json(self, value: Any) -> str | None:
        if not self.record:
            return None
        return json.dumps(redact_value(value, self.redact), ensure_ascii=False, sort_keys=True)

    def result(self, text: str) -> str | None:
        """Tool results are JSON text more often than not: redact them key-aware when they are."""
        if not self.record:
            return None
        try:
            parsed = json.loads(text)
        except ValueError:
            return self.redact(text)
        return self.json(parsed)

    def reasons(self, reasons: Sequence[str]) -> list[str]:
        return [self.redact(r) for r in reasons]


def put(attributes: Attributes, key: str, value: AttributeValue | None) -> None:
    """Set ``key`` unless there is nothing to say (``None``: absent, or content left out)."""
    if value is not None:
        attributes[key] = value


# -- model calls ----------------------------------------------------------------------------


def provider_name(model: object) -> str:
    """``anthropic`` for Claude; a test double (or an unknown model) is named by its ``name``."""
    declared = getattr(model, "provider", None)
    if isinstance(declared, str) and declared:
        return declared
    if type(model).__module__ == "agentflow.models.anthropic":
        return "anthropic"
    name = getattr(model, "name", None)
    return name if isinstance(name, str) and name else type(model).__name__


def server(model: object) -> Attributes:
    """``server.address`` and ``server.port`` of the API a model's SDK client calls."""
    client = getattr(model, "client", None)
    url = getattr(client, "base_url", None)
    host, port = getattr(url, "host", None), getattr(url, "port", None)
    attributes: Attributes = {}
    if isinstance(host, str) and host:
        attributes[SERVER_ADDRESS] = host
        scheme = getattr(url, "scheme", "https")
        attributes[SERVER_PORT] = (
            port if isinstance(port, int) else (80 if scheme == "http" else 443)
        )
    return attributes


def provider_attributes(name: str) -> Attributes:
    """The provider, under the current attribute and the one older tools read."""
    return {PROVIDER: name, SYSTEM: name}


def chat_request(
    request: ModelRequest, *, provider: str, model: str, content: Content
) -> Attributes:
    attributes: Attributes = {
        KIND: "chat",
        OPERATION: "chat",
        PROVIDER: provider,
        SYSTEM: provider,
        REQUEST_MODEL: model,
        REQUEST_MAX_TOKENS: request.max_tokens,
    }
    settings = request.settings
    put(attributes, REQUEST_TEMPERATURE, settings.temperature)
    put(attributes, REQUEST_TOP_P, settings.top_p)
    put(attributes, REQUEST_STOP_SEQUENCES, list(settings.stop_sequences) or None)
    # Who the call was made for: the person, as the trail names people (the provider is only
    # given a digest of it).
    put(attributes, USER, request.user)
    put(attributes, USER_ID, request.user)
    # The messages new since the model last spoke: the whole history on every call would make
    # the trail grow with the square of the conversation, and the previous spans hold the rest.
    put(attributes, INPUT_MESSAGES, content.json(_messages(_since_last_reply(request.messages))))
    if content.instructions:
        # Opt-in (the conventions' advice): the same text on every call of every conversation.
        if request.system:
            system = [{"type": "text", "content": request.system}]
            put(attributes, SYSTEM_INSTRUCTIONS, content.json(system))
        if request.tools:
            put(attributes, TOOL_DEFINITIONS, content.json([_definition(t) for t in request.tools]))
    return attributes


def _definition(tool: ToolDefinition) -> dict[str, Any]:
    return {
        "type": "function",
        "name": tool.name,
        "description": tool.description,
        "parameters": tool.input_schema,
    }


def chat_response(response: ModelResponse, *, content: Content) -> Attributes:
    attributes: Attributes = {
        FINISH_REASONS: [response.stop_reason or "unknown"],
        **usage(response.usage),
    }
    put(attributes, RESPONSE_MODEL, response.model or None)
    put(attributes, RESPONSE_ID, response.id or None)
    output = {
        "role": "assistant",
        "parts": [_part(b) for b in response.content],
        "finish_reason": response.stop_reason or "unknown",
    }
    put(attributes, OUTPUT_MESSAGES, content.json([output]))
    return attributes


def usage(counts: Usage) -> Attributes:
    """The token counts of a call or a turn, as the conventions count them."""
    return {
        # The conventions' input tokens are every input token, cached or not; Anthropic's
        # ``input_tokens`` counts only those after the last cache breakpoint.
        INPUT_TOKENS: input_tokens(counts),
        OUTPUT_TOKENS: counts.output_tokens,
        CACHE_CREATION_TOKENS: counts.cache_creation_input_tokens,
        CACHE_READ_TOKENS: counts.cache_read_input_tokens,
    }


def input_tokens(usage: Usage) -> int:
    """Every input token of a call: uncached, read from the cache and written to it."""
    return usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens


def _since_last_reply(messages: Sequence[Message]) -> Sequence[Message]:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "assistant":
            return messages[index + 1 :]
    return messages


def _messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    return [{"role": m.role, "parts": [_part(b) for b in m.content]} for m in messages]


def _part(block: ContentBlock) -> dict[str, Any]:
    match block:
        case TextBlock(text=text):
            return {"type": "text", "content": text}
        case ToolUseBlock(id=call_id, name=name, input=arguments):
            return {"type": "tool_call", "id": call_id, "name": name, "arguments": arguments}
        case ToolResultBlock(tool_use_id=call_id, content=text, is_error=is_error):
            part: dict[str, Any] = {
                "type": "tool_call_response",
                "id": call_id,
                "response": text,
                "error": is_error,
            }
            if block.attachments:
                part["attachments"] = [_blob(f) for f in block.attachments]
            return part
        case ThinkingBlock(thinking=text):
            # The signature is opaque and proves nothing to a reader: the text is the record.
            return {"type": "reasoning", "content": text}
        case RedactedThinkingBlock():
            return {"type": "reasoning", "content": "(encrypted by the provider)"}
        case ImageBlock() | DocumentBlock():
            return _blob(block)


def _blob(block: ImageBlock | DocumentBlock) -> dict[str, Any]:
    """An image or PDF as the trail names it: its type, size and digest, never its bytes.

    The bytes stay out for their size, and because redaction reads text only.
    """
    return {
        "type": "blob",
        "modality": "image" if block.type == "image" else "document",
        "mime_type": block.media_type,
        "bytes": len(block.data) * 3 // 4,
        "sha256": attachment_digest(block),
    }


# -- tool calls and preconditions -----------------------------------------------------------


def tool_call(
    name: str, call_id: str, arguments: dict[str, Any], digest: str, *, content: Content
) -> Attributes:
    attributes: Attributes = {
        KIND: "tool",
        OPERATION: "execute_tool",
        TOOL_NAME: name,
        TOOL_CALL_ID: call_id,
        TOOL_TYPE: "function",
        TOOL_DIGEST: digest,
    }
    put(attributes, TOOL_ARGUMENTS, content.json(arguments))
    return attributes


def intent(intent: Intent, *, content: Content) -> Attributes:
    """The record written before a call's body runs: the call, and the approval that allowed it."""
    # No gen_ai.operation.name: the intent is a record inside the call's execute_tool span, not
    # a second execution of the tool, which GenAI dashboards would count twice.
    attributes: Attributes = {
        KIND: "intent",
        TOOL_NAME: intent.tool,
        TOOL_CALL_ID: intent.call_id,
        TOOL_DIGEST: intent.digest,
        TOOL_SIDE_EFFECTS: intent.side_effects,
        CONVERSATION_ID: intent.conversation_id,
    }
    put(attributes, TOOL_ARGUMENTS, content.json(intent.arguments))
    put(attributes, USER, intent.user)
    approval = intent.approval
    if approval is not None:
        attributes[APPROVAL_KEY] = approval.approval_key
        attributes[APPROVAL_DIGEST] = approval.digest
        attributes[APPROVAL_OUTCOME] = approval.outcome
        attributes[APPROVAL_STAGES] = [",".join(s) for s in approval.approvals_by_stage()]
        put(attributes, APPROVAL_APPROVER, approval.approver)
    return attributes


def tool_outcome(outcome: ToolOutcome, *, content: Content) -> Attributes:
    attributes: Attributes = {TOOL_OUTCOME: outcome.kind}
    match outcome:
        case ToolReturned(content=text, attachments=files):
            put(attributes, TOOL_RESULT, content.result(text))
            if files:
                attributes[TOOL_ATTACHMENTS] = json.dumps([_blob(f) for f in files])
        case ToolFailed(message=message, error_type=error_type, detail=detail):
            attributes[ERROR_TYPE] = error_type
            attributes[TOOL_REASONS] = content.reasons([message])
            if detail:
                put(attributes, TOOL_ERROR_DETAIL, content.text(detail))
        case ToolDenied(reasons=reasons):
            attributes[TOOL_REASONS] = content.reasons(reasons)
        case ToolNeedsApproval(request=request):
            attributes[TOOL_REASONS] = content.reasons(request.reasons)
            attributes[APPROVAL_DIGEST] = request.digest
            attributes[APPROVAL_APPROVERS] = list(request.approvers)
    return attributes


def model_retrying(event: ModelRetrying, *, content: Content) -> Attributes:
    """The attributes of a "model retrying" span event: which attempt failed, the wait."""
    return {
        "agentflow.model.attempt": event.attempt,
        "agentflow.model.retry_delay_s": event.delay_s,
        ERROR_TYPE: content.redact(event.error),
    }


def failure_description(outcome: ToolFailed) -> str:
    """The status description of a failed tool call's span."""
    if outcome.error_type == "ModelRetry":
        return "the tool asked to retry"
    return f"the tool raised {outcome.error_type}"


def precondition(
    tool: str,
    evaluation: Evaluation,
    approved_by: str | None,
    *,
    content: Content,
    provenance: Mapping[str, str] | None = None,
) -> tuple[Attributes, list[Attributes]]:
    """The decision's attributes, and one event's attributes per rule that was evaluated."""
    decision = evaluation.decision
    verdict = (
        "allow"
        if isinstance(decision, Allow)
        else "deny"
        if isinstance(decision, Deny)
        else "needs_approval"
    )
    reasons: tuple[str, ...] = () if isinstance(decision, Allow) else decision.reasons
    if approved_by is not None:
        verdict = "allow"  # the rule asked for approval, and an approval for this call was given
    attributes: Attributes = {
        KIND: "precondition",
        TOOL_NAME: tool,
        DECISION: verdict,
        RULES: [v.rule for v in evaluation.verdicts],
        VERDICTS: [f"{v.rule}={v.verdict}" for v in evaluation.verdicts],
        REASONS: content.reasons(reasons),
    }
    put(attributes, APPROVED_BY, approved_by)
    if provenance:
        attributes[PROVENANCE] = [f"{path}: {where}" for path, where in provenance.items()]
    rules: list[Attributes] = [
        {RULE_NAME: v.rule, RULE_VERDICT: v.verdict, RULE_REASONS: content.reasons(v.reasons)}
        for v in evaluation.verdicts
    ]
    return attributes, rules


# -- approvals ------------------------------------------------------------------------------


def approval_request(request: ApprovalRequest, *, content: Content) -> Attributes:
    attributes: Attributes = {
        KIND: "approval",
        APPROVAL_TOOL: request.tool,
        TOOL_CALL_ID: request.tool_call_id,
        APPROVAL_DIGEST: request.digest,
        APPROVAL_APPROVERS: list(request.approvers),
        APPROVAL_REASONS: content.reasons(request.reasons),
    }
    put(attributes, APPROVAL_REQUESTER, request.requester)
    put(attributes, APPROVAL_ARGUMENTS, content.json(request.arguments))
    if request.provenance:
        attributes[PROVENANCE] = [f"{p}: {where}" for p, where in request.provenance.items()]
    return attributes


def approval_decision(decision: ApprovalDecision, *, content: Content) -> Attributes:
    attributes: Attributes = {
        KIND: "approval",
        APPROVAL_DIGEST: decision.digest,
        APPROVAL_OUTCOME: decision.outcome,
    }
    put(attributes, APPROVAL_APPROVER, decision.approver)
    if decision.reason:
        attributes[APPROVAL_DECISION_REASON] = content.redact(decision.reason)
    return attributes
