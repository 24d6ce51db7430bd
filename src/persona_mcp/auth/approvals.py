"""The approval store: calls held for a person's sign-off, and their single use.

An approval binds one principal, grant, tool and environment to a keyed digest of the exact validated
arguments. Every state change is one UPDATE guarded by the state it leaves (`WHERE id = ? AND state =
'approved' AND expires_at > now`), so of two replicas or two concurrent calls presenting the same approved
arguments exactly one changes the row and runs: the other sees no row changed and is held again. That
holds on SQLite (one writer at a time) and on PostgreSQL (the row lock taken by the UPDATE) alike.

This module only keeps rows; the audit records of each change are written by the caller (the call
pipeline's gate, the `approvals` command), which knows the call they belong to.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, select, update

from persona_mcp.store import Store
from persona_mcp.store.schema.approvals import approvals as approvals_table

PENDING = "pending"
APPROVED = "approved"
REJECTED = "rejected"
USED = "used"
EXPIRED = "expired"
#: States in which an approval can still end up used.
OPEN_STATES = (PENDING, APPROVED)


def new_approval_id() -> str:
    return f"apr_{secrets.token_hex(10)}"


@dataclass(frozen=True, slots=True)
class Approval:
    """One approval row (the sealed arguments stay sealed: `args_sealed`, opened by the caller)."""

    id: str
    principal: str
    grant_id: str
    environment: str
    tool: str
    digest: str
    state: str
    requirement: str
    requested_at: datetime
    expires_at: datetime
    request_call_id: str
    args_key_id: str
    args_sealed: bytes
    decided_at: datetime | None = None
    decided_by: str | None = None
    reason: str | None = None
    used_at: datetime | None = None
    used_call_id: str | None = None

    def expired(self, now: datetime) -> bool:
        return self.state in OPEN_STATES and self.expires_at <= now


@dataclass(frozen=True, slots=True)
class Binding:
    """What an approval is bound to: who, under which grant, which tool, where, which exact arguments."""

    principal: str
    grant_id: str
    environment: str
    tool: str
    digest: str


class ApprovalStore:
    """Approval rows in the shared database."""

    def __init__(self, store: Store, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._store = store
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()

    async def create(
        self,
        binding: Binding,
        *,
        approval_id: str,
        requirement: str,
        ttl: timedelta,
        call_id: str,
        args_key_id: str,
        args_sealed: bytes,
    ) -> Approval:
        now = self._clock()
        approval = Approval(
            id=approval_id,
            principal=binding.principal,
            grant_id=binding.grant_id,
            environment=binding.environment,
            tool=binding.tool,
            digest=binding.digest,
            state=PENDING,
            requirement=requirement,
            requested_at=now,
            expires_at=now + ttl,
            request_call_id=call_id,
            args_key_id=args_key_id,
            args_sealed=args_sealed,
        )
        async with self._store.engine.begin() as conn:
            await conn.execute(insert(approvals_table).values(**_row(approval)))
        return approval

    async def get(self, approval_id: str) -> Approval | None:
        async with self._store.engine.connect() as conn:
            row = (
                await conn.execute(select(approvals_table).where(approvals_table.c.id == approval_id))
            ).first()
        return _approval(row) if row is not None else None

    async def listing(self, *, states: tuple[str, ...] | None = None, limit: int = 200) -> list[Approval]:
        query = select(approvals_table).order_by(approvals_table.c.requested_at.desc()).limit(limit)
        if states is not None:
            query = query.where(approvals_table.c.state.in_(states))
        async with self._store.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_approval(row) for row in rows]

    async def bound_to(self, binding: Binding) -> list[Approval]:
        """Every approval for exactly this call, newest first."""
        t = approvals_table.c
        query = (
            select(approvals_table)
            .where(
                and_(
                    t.digest == binding.digest,
                    t.principal == binding.principal,
                    t.grant_id == binding.grant_id,
                    t.environment == binding.environment,
                    t.tool == binding.tool,
                )
            )
            .order_by(t.requested_at.desc())
        )
        async with self._store.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_approval(row) for row in rows]

    async def use(self, approval_id: str, *, call_id: str) -> bool:
        """Mark an approved, unexpired approval used by `call_id`. True for exactly one caller."""
        now = self._clock()
        t = approvals_table.c
        return await self._transition(
            and_(t.id == approval_id, t.state == APPROVED, t.expires_at > now),
            state=USED,
            used_at=now,
            used_call_id=call_id,
        )

    async def decide(self, approval_id: str, *, approve: bool, by: str, reason: str) -> bool:
        """Approve or reject a pending, unexpired approval. False if it was not pending any more."""
        now = self._clock()
        t = approvals_table.c
        return await self._transition(
            and_(t.id == approval_id, t.state == PENDING, t.expires_at > now),
            state=APPROVED if approve else REJECTED,
            decided_at=now,
            decided_by=by,
            reason=reason,
        )

    async def expire(self, approval_id: str) -> bool:
        """Mark an open approval whose time has passed expired. True for exactly one caller."""
        now = self._clock()
        t = approvals_table.c
        return await self._transition(
            and_(t.id == approval_id, t.state.in_(OPEN_STATES), t.expires_at <= now), state=EXPIRED
        )

    async def _transition(self, where: Any, **values: Any) -> bool:
        async with self._store.engine.begin() as conn:
            result = await conn.execute(update(approvals_table).where(where).values(**values))
        return result.rowcount == 1


def _row(approval: Approval) -> dict[str, Any]:
    return {name: getattr(approval, name) for name in Approval.__dataclass_fields__}


def _approval(row: Any) -> Approval:
    fields = {name: getattr(row, name) for name in Approval.__dataclass_fields__}
    fields["args_sealed"] = bytes(fields["args_sealed"])  # psycopg may hand back a memoryview
    return Approval(**fields)
