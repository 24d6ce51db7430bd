"""The approval gate of the call pipeline: per-tool limits, the circuit breaker, four-eyes approvals.

After a call is authorized and its arguments validated, and before any intent record or upstream
request, `ApprovalGate.admit` decides:

- a per-tool limit of the grant that is used up refuses the call (`Refused`);
- a call that needs approval (`auth.approval_policy`) and finds an approved, unexpired, unused approval
  bound to exactly this principal, grant, tool, environment and argument digest uses it (one guarded
  UPDATE: once, across replicas) and runs (`Cleared(approval_id=...)`), after an `approval.used` record;
- otherwise the call is held (`Held`): it never reaches Persona; a pending approval is created (with an
  `approval.requested` record) or the open one reported, and the agent gets a normal result, valid for
  the tool's output schema, saying it awaits approval and how to go on.

The digest is keyed (the audit log's PII key over a SHA-256 of the canonical validated arguments), so the
store and the records hold no argument in clear; the arguments themselves are kept sealed with the
credential key for approvers who hold `pii:read` (`approvals show`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import mcp_types as types
import rfc8785
import structlog

from persona_mcp.audit import AuditEvent, AuditLog
from persona_mcp.auth.approval_policy import ApprovalRequirement, approval_requirement
from persona_mcp.auth.approvals import (
    APPROVED,
    PENDING,
    REJECTED,
    USED,
    Approval,
    ApprovalStore,
    Binding,
    new_approval_id,
)
from persona_mcp.auth.call_limits import CallCounters
from persona_mcp.auth.callers import Caller
from persona_mcp.auth.credentials.secretbox import SecretBox, associated_data
from persona_mcp.config import ApprovalSettings
from persona_mcp.tools.mcp_schema import output_schema
from persona_mcp.tools.spec import ToolSpec

log = structlog.get_logger("persona_mcp.approvals")

AnySpec = ToolSpec[Any, Any]
#: Builds the pipeline's record of this call with the given kind (principal, session, redacted arguments).
EventFactory = Callable[[str], dict[str, Any]]


def approval_aad(approval_id: str) -> bytes:
    """The sealed arguments are bound to their approval: a ciphertext moved to another row fails."""
    return associated_data("approval", approval_id)


def arguments_digest(audit: AuditLog, binding_fields: Mapping[str, Any], arguments: Mapping[str, Any]) -> str:
    """A keyed digest of who calls what, where, with exactly which validated arguments."""
    canonical = rfc8785.dumps({"binding": dict(binding_fields), "arguments": dict(arguments)})
    return audit.digester.digest(f"approval-call-{hashlib.sha256(canonical).hexdigest()}")


@dataclass(frozen=True, slots=True)
class Cleared:
    """The call may run; `approval_id` names the approval it used, if it needed one."""

    approval_id: str | None = None


@dataclass(frozen=True, slots=True)
class Held:
    """The call waits for a person: the answer to give the agent."""

    result: types.CallToolResult


@dataclass(frozen=True, slots=True)
class Refused:
    """A per-tool limit refused the call."""

    reason: str
    retry_after_seconds: int


Verdict = Cleared | Held | Refused


class ApprovalGate:
    """Decides, per call, whether it runs, waits for approval, or is refused by a per-tool limit."""

    def __init__(
        self,
        *,
        approvals: ApprovalStore,
        counters: CallCounters,
        audit: AuditLog,
        box: SecretBox,
        settings: ApprovalSettings,
    ) -> None:
        self._approvals = approvals
        self._counters = counters
        self._audit = audit
        self._box = box
        self._settings = settings

    async def requirement(self, caller: Caller, spec: AnySpec) -> ApprovalRequirement:
        """Whether this caller's call of `spec` needs approval now (the dry run reports this too)."""
        tripped = spec.high_risk and await self._counters.breaker(caller.grant.id) is not None
        return approval_requirement(
            caller.grant,
            tool=spec.name,
            declared=spec.approval_policy,
            high_risk=spec.high_risk,
            breaker_tripped=tripped,
        )

    async def admit(
        self, caller: Caller, spec: AnySpec, args: Any, *, call_id: str, event: EventFactory
    ) -> Verdict:
        exceeded = await self._counters.check_tool_limit(caller.grant, spec.name)
        if exceeded is not None:
            return Refused(
                f"tool limit {exceeded.limit.calls} calls of {spec.name} per "
                f"{exceeded.limit.window_seconds}s reached",
                exceeded.retry_after_seconds,
            )
        if spec.high_risk:
            # Counted first, so the call that passes the threshold is itself held.
            await self._count_high_risk(caller)
        needed = await self.requirement(caller, spec)
        if not needed.required:
            return Cleared()
        return await self._match(caller, spec, args, needed, call_id=call_id, event=event)

    async def _count_high_risk(self, caller: Caller) -> None:
        tripped = await self._counters.count_high_risk(
            caller.grant.id,
            threshold=self._settings.breaker_threshold,
            window_seconds=self._settings.breaker_window_seconds,
        )
        if tripped is not None:
            log.warning("approvals.breaker_tripped", grant_id=caller.grant.id, calls=tripped.calls)
            await self._audit.admin_event(
                action="breaker.tripped",
                actor="server",
                target=caller.grant.id,
                details={
                    "principal": caller.principal,
                    "calls": tripped.calls,
                    "threshold": tripped.threshold,
                    "window_seconds": self._settings.breaker_window_seconds,
                },
            )

    def binding(self, caller: Caller, spec: AnySpec, args: Any) -> Binding:
        fields = {
            "principal": caller.principal,
            "grant_id": caller.grant.id,
            "environment": caller.grant.environment.value,
            "tool": spec.name,
        }
        arguments = args.model_dump(mode="json", by_alias=True)
        return Binding(digest=arguments_digest(self._audit, fields, arguments), **fields)

    async def _match(
        self,
        caller: Caller,
        spec: AnySpec,
        args: Any,
        needed: ApprovalRequirement,
        *,
        call_id: str,
        event: EventFactory,
    ) -> Cleared | Held:
        binding = self.binding(caller, spec, args)
        note: str | None = None
        for approval in await self._approvals.bound_to(binding):  # newest first
            if approval.expired(self._approvals.now()):
                if await self._approvals.expire(approval.id):
                    await self._append(event, "approval.expired", approval, reason="approval expired unused")
                note = note or f"approval {approval.id} expired before it was used"
                continue
            if approval.state == APPROVED and await self._approvals.use(approval.id, call_id=call_id):
                await self._append(
                    event, "approval.used", approval, reason=f"approved by {approval.decided_by}"
                )
                return Cleared(approval.id)
            if approval.state == PENDING and note is None:
                await self._append(
                    event,
                    "call.denied",
                    approval,
                    reason=f"awaiting approval {approval.id}",
                    decision="denied",
                )
                return Held(held_result(spec, approval, note=None))
            if approval.state == REJECTED and note is None:
                await self._append(
                    event,
                    "call.denied",
                    approval,
                    reason=f"approval {approval.id} was rejected",
                    decision="denied",
                )
                return Held(held_result(spec, approval, note=_REJECTED_NOTE))
            if approval.state in (USED, APPROVED):  # approved: another call used it just now
                note = note or f"approval {approval.id} was already used: each approval runs one call"
        created = await self._request(caller, spec, args, binding, needed, call_id=call_id, event=event)
        return Held(held_result(spec, created, note=note))

    async def _request(
        self,
        caller: Caller,
        spec: AnySpec,
        args: Any,
        binding: Binding,
        needed: ApprovalRequirement,
        *,
        call_id: str,
        event: EventFactory,
    ) -> Approval:
        approval_id = new_approval_id()
        sealed = self._box.seal(
            json.dumps(args.model_dump(mode="json", by_alias=True), separators=(",", ":")),
            approval_aad(approval_id),
        )
        ttl = timedelta(seconds=self._settings.ttl_seconds)
        # Record first: an approval nobody can find in the log must not exist.
        record = event("approval.requested") | {
            "target": approval_id,
            "decision": "denied",
            "reason": f"awaiting approval: {needed.reason}",
            "details": {
                "approval_id": approval_id,
                "digest": binding.digest,
                "expires_in_seconds": self._settings.ttl_seconds,
            },
        }
        await self._audit.append(AuditEvent(**{k: v for k, v in record.items() if v is not None}))
        return await self._approvals.create(
            binding,
            approval_id=approval_id,
            requirement=needed.reason,
            ttl=ttl,
            call_id=call_id,
            args_key_id=self._box.current_key_id,
            args_sealed=sealed,
        )

    async def _append(
        self, event: EventFactory, kind: str, approval: Approval, *, reason: str, decision: str | None = None
    ) -> None:
        record = event(kind) | {
            "target": approval.id,
            "reason": reason,
            "decision": decision,
            "details": {"approval_id": approval.id, "digest": approval.digest},
        }
        await self._audit.append(AuditEvent(**{k: v for k, v in record.items() if v is not None}))


_REJECTED_NOTE = "a person rejected exactly this call; do not repeat it"

_STATUS_TEXT = {
    PENDING: "awaiting approval",
    REJECTED: "rejected",
}


def held_result(spec: AnySpec, approval: Approval, *, note: str | None) -> types.CallToolResult:
    """The agent's answer for a held call: not an error, and valid for the tool's declared output schema.

    The result describes the approval (`type: approval`, its id), with the tool's required fields filled
    from it; `approval` carries the details. Output schemas are open, so the extra fields are admitted.
    """
    status = "awaiting_approval" if approval.state == PENDING else approval.state
    how = (
        f"A person other than you must approve it (persona-mcp approvals approve {approval.id}) before "
        f"{approval.expires_at.isoformat()}. Then call {spec.name} again with exactly the same arguments: "
        "it runs once. Calling it again before that answers with this approval's status."
    )
    if approval.state == REJECTED:
        how = f"It was rejected by {approval.decided_by}: {approval.reason}."
    details: dict[str, Any] = {
        "id": approval.id,
        "status": status,
        "tool": spec.name,
        "expires_at": approval.expires_at.isoformat(),
        "next_step": how,
    }
    if note:
        details["note"] = note
    data = placeholder_result(spec, object_id=approval.id, object_type="approval", status=status)
    data["approval"] = details
    text = f"{spec.name} was not run: {_STATUS_TEXT.get(approval.state, status)} ({approval.id}). {how}"
    if note:
        text = f"{text} Note: {note}."
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=data,
        meta={"persona-mcp/approval": approval.id},
    )


def placeholder_result(spec: AnySpec, *, object_id: str, object_type: str, status: str) -> dict[str, Any]:
    """The required top-level fields of the tool's listed output schema, filled for a result that is
    not the tool's object (a held call, a dry run): `id` and `type` name what it is instead, lists are
    empty. A schema requiring something else fails here, and in the catalogue test of every write tool."""
    schema = output_schema(spec)
    properties: dict[str, Any] = schema.get("properties", {})
    data: dict[str, Any] = {}
    for name in schema.get("required", []):
        if name == "id":
            data[name] = object_id
        elif name == "type":
            data[name] = object_type
        elif name == "status":
            data[name] = status
        elif "items" in properties.get(name, {}) or properties.get(name, {}).get("type") == "array":
            data[name] = []
        else:
            raise TypeError(f"{spec.name}: cannot fill required result field {name!r} for a held call")
    if "status" in properties and "status" not in data:
        data["status"] = status
    return data
