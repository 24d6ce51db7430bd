"""Reviewing held calls: who may approve, what they see, and the records their decisions leave.

Used by `persona-mcp approvals` (and by a reviewer console, when it lands). An approver is a person:
either a principal holding a live grant of kind `person` with `approvals:decide` in the approval's
environment, or an administrator (whoever runs the command with access to the store), recorded as such.
Never the principal whose call is held, under any name: four eyes means two people.

An approver sees the arguments in clear only if its grant also holds `pii:read`; otherwise they are
shown masked by the tool's own PII declarations (an administrator sees them masked too).

Every decision is recorded before it is made (`approval.approved`, `approval.rejected`, with the
approver, the reason and the call that asked); a decision that then loses a race (the approval was
decided, used or expired meanwhile) is followed by an `admin.approval.decision_failed` record.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from persona_mcp.audit import AuditEvent, AuditLog
from persona_mcp.auth.approvals import APPROVED, PENDING, Approval, ApprovalStore
from persona_mcp.auth.call_limits import CallCounters
from persona_mcp.auth.credentials.secretbox import SecretBox, SecretBoxError
from persona_mcp.auth.environment import Environment
from persona_mcp.auth.grant import Grant, PrincipalKind
from persona_mcp.auth.grants import GrantStore
from persona_mcp.auth.scopes import Scope, expand
from persona_mcp.pii import mask
from persona_mcp.server.approvals import approval_aad
from persona_mcp.tools.spec import ToolSpec

MAX_REASON = 2000


class ReviewError(ValueError):
    """A review action that is not allowed or not possible; the message says why."""


@dataclass(frozen=True, slots=True)
class Approver:
    """Who decides: a principal with an approvals:decide grant, or an administrator."""

    name: str
    grant: Grant | None  # None: an administrator
    #: Narrower than the grant (a console sign-in through the authorization server): what it holds.
    scopes: frozenset[Scope] | None = None

    @property
    def sees_pii(self) -> bool:
        if self.grant is None or Scope.PII_READ not in expand(self.grant.scopes):
            return False
        return self.scopes is None or Scope.PII_READ in expand(self.scopes)

    @property
    def recorded_as(self) -> str:
        return self.name if self.grant is not None else f"admin:{self.name}"


@dataclass(frozen=True, slots=True)
class ApprovalView:
    """An approval as an approver sees it (arguments masked unless the approver holds pii:read)."""

    approval: Approval
    arguments: dict[str, Any] | None
    masked: bool

    def as_json(self) -> dict[str, Any]:
        a = self.approval
        return {
            "id": a.id,
            "state": a.state,
            "tool": a.tool,
            "principal": a.principal,
            "grant_id": a.grant_id,
            "environment": a.environment,
            "requirement": a.requirement,
            "requested_at": a.requested_at.isoformat(),
            "expires_at": a.expires_at.isoformat(),
            "request_call_id": a.request_call_id,
            "decided_by": a.decided_by,
            "decided_at": a.decided_at.isoformat() if a.decided_at else None,
            "reason": a.reason,
            "used_call_id": a.used_call_id,
            "used_at": a.used_at.isoformat() if a.used_at else None,
            "digest": a.digest,
            "arguments": self.arguments,
            "arguments_masked": self.masked,
        }


class ApprovalReview:
    """The approvers' side of the approval store."""

    def __init__(
        self,
        *,
        approvals: ApprovalStore,
        grants: GrantStore,
        audit: AuditLog,
        box: SecretBox,
        tools: Sequence[ToolSpec[Any, Any]],
        counters: CallCounters | None = None,
    ) -> None:
        self._approvals = approvals
        self._grants = grants
        self._audit = audit
        self._box = box
        self._tools = {spec.name: spec for spec in tools}
        self._counters = counters

    def _now(self) -> datetime:
        return self._approvals.now()

    async def approver(self, name: str, *, admin: bool, environment: Environment | None = None) -> Approver:
        """The approver called `name`: an administrator, or the holder of a live person grant with
        approvals:decide (in `environment`, when given)."""
        if admin:
            return Approver(name, None)
        grants = await self._grants.live_for_principal(name, environment=environment)
        for grant in grants:
            if grant.principal_kind is PrincipalKind.PERSON and Scope.APPROVALS_DECIDE in expand(
                grant.scopes
            ):
                return Approver(name, grant)
        where = f" in {environment.value}" if environment is not None else ""
        raise ReviewError(
            f"{name} is not an approver{where}: approvers hold a live grant of kind person with the "
            "approvals:decide scope (or act as an administrator)"
        )

    async def listing(self, *, states: tuple[str, ...] | None = (PENDING, APPROVED)) -> list[Approval]:
        await self._expire_due()
        return await self._approvals.listing(states=states)

    async def show(self, approval_id: str, approver: Approver) -> ApprovalView:
        approval = await self._require(approval_id)
        return ApprovalView(approval, *self._arguments(approval, approver))

    async def decide(self, approval_id: str, approver: Approver, *, approve: bool, reason: str) -> Approval:
        """Approve or reject a pending approval, recorded first; refuses the held call's own principal."""
        reason = reason.strip()
        if not reason:
            raise ReviewError("a reason is required")
        if len(reason) > MAX_REASON:
            raise ReviewError(f"the reason must be at most {MAX_REASON} characters")
        approval = await self._require(approval_id)
        if approver.name == approval.principal or (
            approver.grant is not None and approver.grant.id == approval.grant_id
        ):
            raise ReviewError("the principal whose call is held cannot approve or reject it: four eyes")
        if approver.grant is not None and approver.grant.environment.value != approval.environment:
            raise ReviewError(
                f"{approver.name}'s approver grant is for {approver.grant.environment.value}, "
                f"this call for {approval.environment}"
            )
        if approval.expired(self._now()):
            await self._expire(approval)
            raise ReviewError(f"approval {approval.id} expired at {approval.expires_at.isoformat()}")
        if approval.state != PENDING:
            raise ReviewError(f"approval {approval.id} is {approval.state}, not pending")
        kind = "approval.approved" if approve else "approval.rejected"
        await self._record(kind, approval, actor=approver.recorded_as, reason=reason)
        if not await self._approvals.decide(
            approval.id, approve=approve, by=approver.recorded_as, reason=reason
        ):
            await self._audit.admin_event(
                action="approval.decision_failed",
                actor=approver.recorded_as,
                target=approval.id,
                details={"decision": kind, "error": "the approval was no longer pending"},
            )
            raise ReviewError(f"approval {approval.id} was decided, used or expired meanwhile")
        decided = await self._approvals.get(approval.id)
        assert decided is not None
        return decided

    async def reset_breaker(self, grant_id: str, *, actor: str, reason: str) -> bool:
        """An administrator ends a tripped circuit breaker (recorded first)."""
        if self._counters is None:
            raise ReviewError("no call counters configured")
        if not reason.strip():
            raise ReviewError("a reason is required")
        if await self._counters.breaker(grant_id) is None:
            return False
        await self._audit.admin_event(
            action="breaker.reset", actor=actor, target=grant_id, details={"reason": reason.strip()}
        )
        return await self._counters.reset(grant_id)

    async def _require(self, approval_id: str) -> Approval:
        approval = await self._approvals.get(approval_id)
        if approval is None:
            raise ReviewError(f"no approval with id {approval_id!r}")
        return approval

    async def _expire_due(self) -> None:
        now = self._now()
        for approval in await self._approvals.listing(states=(PENDING, APPROVED)):
            if approval.expired(now):
                await self._expire(approval)

    async def _expire(self, approval: Approval) -> None:
        if await self._approvals.expire(approval.id):
            await self._record("approval.expired", approval, actor=None, reason="approval expired unused")

    async def _record(self, kind: str, approval: Approval, *, actor: str | None, reason: str) -> None:
        event = {
            "kind": kind,
            "call_id": approval.request_call_id,
            "principal": approval.principal,
            "grant_id": approval.grant_id,
            "actor": actor,
            "tool": approval.tool,
            "target": approval.id,
            "reason": reason,
            "details": {"approval_id": approval.id, "digest": approval.digest},
        }
        await self._audit.append(AuditEvent(**{k: v for k, v in event.items() if v is not None}))

    def _arguments(self, approval: Approval, approver: Approver) -> tuple[dict[str, Any] | None, bool]:
        try:
            clear = json.loads(
                self._box.open(approval.args_key_id, approval.args_sealed, approval_aad(approval.id))
            )
        except SecretBoxError:
            return None, True
        if approver.sees_pii:
            return clear, False
        spec = self._tools.get(approval.tool)
        if spec is None:
            return None, True  # a tool this server no longer has: nothing to mask by, so nothing shown
        masked, _ = mask(spec.input_model, clear)
        return masked, True
