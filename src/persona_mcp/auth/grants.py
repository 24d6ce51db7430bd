"""The grant store: create, read, update, revoke and rotate grants, and authenticate grant tokens.

Every change is reported to the `AdminEventSink` (the audit log) BEFORE it is written, and is written
only if the sink accepted it. The other order cannot be made safe on SQLite: the audit log writes through
its own connection, and SQLite admits one writer at a time, so holding our write transaction open while
the audit record is appended would wait on ourselves. Event first means no grant change ever exists
without its audit record; the rare write failure after an accepted event is followed by a best-effort
`grant.change_failed` event naming the action, so the log never claims silently what did not happen.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Row, and_, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from persona_mcp.auth import tokens
from persona_mcp.auth.environment import Environment
from persona_mcp.auth.events import AdminEventSink
from persona_mcp.auth.grant import Grant, GrantDraft, IssuedGrant, PrincipalKind, ToolLimit
from persona_mcp.auth.scopes import DEFAULT_READ_ONLY, Scope
from persona_mcp.store import Store
from persona_mcp.store.schema.grants import grants as grants_table

log = structlog.get_logger(__name__)

MAX_RATE_PER_MINUTE = 100_000
MAX_TOOL_LIMIT_CALLS = 1_000_000
MAX_WINDOW = 30 * 86400
_NAME_MAX = 200
_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]+$")


class GrantError(ValueError):
    """A grant request that cannot be carried out; the message is safe to show an administrator."""


class UnknownToolError(GrantError):
    """A tool name in an allow or deny list that the catalogue does not have: never ignored.

    Deliberately distinct from `persona_mcp.tools.registry.UnknownToolError` (raised when the server's
    tool selection names an unknown tool or toolset): `auth` must not import `tools`, and this one is a
    `GrantError`, which the grants commands report as a refused change. Code that may see both catches
    them by module (`persona_mcp.cli.grants` uses this one, `persona_mcp.cli.serve` the registry's).
    """


class GrantNotFoundError(GrantError):
    pass


class GrantStateError(GrantError):
    """The grant is not in a state that allows the change (e.g. already revoked)."""


class UnauditedChangeError(RuntimeError):
    """The audit log refused or failed to record the change, so the change was not made."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_grant_id() -> str:
    return f"grt_{secrets.token_hex(8)}"


class GrantStore:
    """Grants in the shared database. `known_tools` is the catalogue's tool names.

    Without `known_tools`, a grant with an allow or deny list is refused: an unchecked tool name would be
    a silent no-op, and doubt resolves to deny.
    """

    def __init__(
        self,
        store: Store,
        events: AdminEventSink,
        *,
        known_tools: Collection[str] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._events = events
        self._known_tools = frozenset(known_tools) if known_tools is not None else None
        self._clock = clock

    def know_tools(self, known_tools: Collection[str]) -> None:
        """The catalogue's tool names, for a store made before the catalogue was loaded."""
        self._known_tools = frozenset(known_tools)

    # -- reads --------------------------------------------------------------------------------------

    async def get(self, grant_id: str) -> Grant | None:
        async with self._store.engine.connect() as conn:
            row = (await conn.execute(select(grants_table).where(grants_table.c.id == grant_id))).first()
        return _to_grant(row) if row is not None else None

    async def require(self, grant_id: str) -> Grant:
        grant = await self.get(grant_id)
        if grant is None:
            raise GrantNotFoundError(f"no grant with id {grant_id!r}")
        return grant

    async def list_all(self, *, include_revoked: bool = True) -> list[Grant]:
        query = select(grants_table).order_by(grants_table.c.created_at, grants_table.c.id)
        if not include_revoked:
            query = query.where(grants_table.c.revoked_at.is_(None))
        async with self._store.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_to_grant(row) for row in rows]

    async def managed_by(self, source: str) -> list[Grant]:
        """Unrevoked grants that a policy file with this `source` name created."""
        query = (
            select(grants_table)
            .where(and_(grants_table.c.managed_by == source, grants_table.c.revoked_at.is_(None)))
            .order_by(grants_table.c.managed_name)
        )
        async with self._store.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_to_grant(row) for row in rows]

    async def live_for_principal(
        self, principal: str, *, environment: Environment | None = None
    ) -> list[Grant]:
        """Live grants of one principal (optionally in one environment): how a JWT finds its grant."""
        query = select(grants_table).where(
            and_(grants_table.c.principal == principal, grants_table.c.revoked_at.is_(None))
        )
        if environment is not None:
            query = query.where(grants_table.c.environment == environment.value)
        async with self._store.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        now = self._clock()
        return [grant for grant in (_to_grant(row) for row in rows) if grant.is_live(now)]

    async def authenticate(self, token: str) -> Grant | None:
        """The grant whose current token this is (live or not), or None. Never logs the token."""
        grant, secret_matches = await self.named_by(token)
        return grant if secret_matches else None

    async def named_by(self, token: str) -> tuple[Grant | None, bool]:
        """The grant the token's lookup id names (if any), and whether the token's secret is its own.

        A token whose id names a grant but whose secret does not match is a guess at that grant's token:
        refusals record the grant it names, so reviewers see who was targeted.
        """
        token_id = tokens.token_id_of(token)
        if token_id is None:
            return None, False
        async with self._store.engine.connect() as conn:
            row = (
                await conn.execute(select(grants_table).where(grants_table.c.token_id == token_id))
            ).first()
        if row is None:
            return None, False
        return _to_grant(row), tokens.matches(token, row.token_salt, row.token_digest)

    # -- changes ------------------------------------------------------------------------------------

    async def create(
        self,
        draft: GrantDraft,
        *,
        actor: str = "system",
        managed_by: str | None = None,
        managed_name: str | None = None,
    ) -> IssuedGrant:
        """Create a grant and return it with its token (the only time the token is available)."""
        now = self._clock()
        self._validate(draft, now=now, previous=None)
        minted = tokens.mint()
        grant = Grant(
            id=new_grant_id(),
            principal=draft.principal.strip(),
            principal_kind=draft.principal_kind,
            environment=draft.environment,
            scopes=draft.scopes or DEFAULT_READ_ONLY,
            expires_at=draft.expires_at,
            created_at=now,
            updated_at=now,
            allow_tools=draft.allow_tools,
            deny_tools=draft.deny_tools,
            read_only=draft.read_only,
            rate_per_minute=draft.rate_per_minute,
            label=draft.label,
            require_approval=draft.require_approval,
            no_approval=draft.no_approval,
            tool_limits=draft.tool_limits,
            managed_by=managed_by,
            managed_name=managed_name,
            token_id=minted.token_id,
        )
        values = _to_row(grant) | {"token_salt": minted.salt, "token_digest": minted.digest}
        await self._record("grant.created", actor, grant.id, describe(grant))
        await self._write("grant.created", actor, grant.id, insert(grants_table).values(**values))
        log.info("grant.created", grant_id=grant.id, principal=grant.principal, environment=grant.environment)
        return IssuedGrant(grant=grant, token=minted.token)

    async def update(self, grant_id: str, draft: GrantDraft, *, actor: str = "system") -> Grant:
        """Replace the declarative fields of a live grant; principal and environment cannot change.

        A grant's principal and environment are who and where its token acts: changing them would hand
        an existing token to someone else, so those need a new grant (and a new token) instead.
        """
        current = await self.require(grant_id)
        if current.revoked_at is not None:
            raise GrantStateError(f"grant {grant_id} is revoked; create a new grant instead")
        if draft.principal.strip() != current.principal or draft.environment is not current.environment:
            raise GrantStateError("a grant's principal and environment cannot change; create a new grant")
        now = self._clock()
        self._validate(draft, now=now, previous=current)
        changed = replace(
            current,
            principal_kind=draft.principal_kind,
            scopes=draft.scopes or DEFAULT_READ_ONLY,
            expires_at=draft.expires_at,
            allow_tools=draft.allow_tools,
            deny_tools=draft.deny_tools,
            read_only=draft.read_only,
            rate_per_minute=draft.rate_per_minute,
            label=draft.label,
            require_approval=draft.require_approval,
            no_approval=draft.no_approval,
            tool_limits=draft.tool_limits,
            updated_at=now,
        )
        values = {
            key: value
            for key, value in _to_row(changed).items()
            if key
            not in ("id", "principal", "environment", "created_at", "token_id", "managed_by", "managed_name")
        }
        statement = (
            update(grants_table)
            .where(and_(grants_table.c.id == grant_id, grants_table.c.revoked_at.is_(None)))
            .values(**values)
        )
        details = describe(changed) | {"changed": diff(current, changed)}
        await self._record("grant.updated", actor, grant_id, details)
        await self._write("grant.updated", actor, grant_id, statement)
        log.info("grant.updated", grant_id=grant_id)
        return changed

    async def revoke(self, grant_id: str, *, actor: str = "system") -> Grant:
        """Revoke a grant: its token stops working on the next resolution."""
        current = await self.require(grant_id)
        if current.revoked_at is not None:
            raise GrantStateError(f"grant {grant_id} is already revoked")
        now = self._clock()
        statement = (
            update(grants_table)
            .where(and_(grants_table.c.id == grant_id, grants_table.c.revoked_at.is_(None)))
            .values(revoked_at=now, updated_at=now)
        )
        await self._record("grant.revoked", actor, grant_id, {"principal": current.principal})
        await self._write("grant.revoked", actor, grant_id, statement)
        log.info("grant.revoked", grant_id=grant_id)
        return replace(current, revoked_at=now, updated_at=now)

    async def rotate(self, grant_id: str, *, actor: str = "system") -> IssuedGrant:
        """Issue a new token; the previous one stops matching in the same commit."""
        current = await self.require(grant_id)
        if current.revoked_at is not None:
            raise GrantStateError(f"grant {grant_id} is revoked; it has no token to rotate")
        now = self._clock()
        minted = tokens.mint()
        statement = (
            update(grants_table)
            .where(
                and_(
                    grants_table.c.id == grant_id,
                    grants_table.c.revoked_at.is_(None),
                    grants_table.c.token_id == current.token_id,
                )
            )
            .values(
                token_id=minted.token_id, token_salt=minted.salt, token_digest=minted.digest, updated_at=now
            )
        )
        details = {"previous_token_id": current.token_id, "token_id": minted.token_id}
        await self._record("grant.rotated", actor, grant_id, details)
        await self._write("grant.rotated", actor, grant_id, statement)
        log.info("grant.rotated", grant_id=grant_id)
        return IssuedGrant(
            grant=replace(current, token_id=minted.token_id, updated_at=now), token=minted.token
        )

    async def record_event(self, action: str, *, actor: str, target: str, details: Mapping[str, Any]) -> None:
        """Report a change spanning several grants (e.g. `grants.applied`), refusing it if unrecorded."""
        await self._record(action, actor, target, details)

    def check(self, draft: GrantDraft, *, previous: Grant | None = None) -> None:
        """Raise `GrantError` if `create` (or `update` of `previous`) would refuse this draft.

        Lets a change spanning several grants refuse the whole batch before any of it is made.
        """
        self._validate(draft, now=self._clock(), previous=previous)

    # -- internals ----------------------------------------------------------------------------------

    def _validate(self, draft: GrantDraft, *, now: datetime, previous: Grant | None) -> None:
        principal = draft.principal.strip()
        if not principal or len(principal) > _NAME_MAX or not _PRINTABLE.match(principal):
            raise GrantError(f"principal must be 1 to {_NAME_MAX} printable characters")
        if draft.label is not None and (len(draft.label) > _NAME_MAX or not _PRINTABLE.match(draft.label)):
            raise GrantError(f"label must be at most {_NAME_MAX} printable characters")
        if not isinstance(draft.environment, Environment):
            raise GrantError(f"unknown environment {draft.environment!r}")
        if any(not isinstance(scope, Scope) for scope in draft.scopes or ()):
            raise GrantError("scopes must be parsed with auth.scopes.parse_scopes")
        if draft.rate_per_minute is not None and not 0 < draft.rate_per_minute <= MAX_RATE_PER_MINUTE:
            raise GrantError(f"rate must be between 1 and {MAX_RATE_PER_MINUTE} calls per minute")
        if draft.expires_at is not None:
            if draft.expires_at.tzinfo is None:
                raise GrantError("expiry must carry a time zone")
            unchanged = previous is not None and previous.expires_at == draft.expires_at
            if draft.expires_at <= now and not unchanged:
                raise GrantError("expiry must be in the future")
        self._check_tools(draft.allow_tools, "allow")
        self._check_tools(draft.deny_tools, "deny")
        self._check_tools(draft.require_approval, "require-approval")
        self._check_tools(draft.no_approval, "no-approval")
        self._check_tools(frozenset(limit.tool for limit in draft.tool_limits), "tool-limit")
        both = sorted(draft.require_approval & draft.no_approval)
        if both:
            raise GrantError(f"tool(s) both requiring and waiving approval: {', '.join(both)}")
        limited = [limit.tool for limit in draft.tool_limits]
        if len(limited) != len(set(limited)):
            raise GrantError("at most one limit per tool")
        for limit in draft.tool_limits:
            if not (0 < limit.calls <= MAX_TOOL_LIMIT_CALLS and 0 < limit.window_seconds <= MAX_WINDOW):
                raise GrantError(
                    f"tool limit {limit}: calls must be 1 to {MAX_TOOL_LIMIT_CALLS}, "
                    f"the window 1 second to {MAX_WINDOW // 86400} days"
                )

    def _check_tools(self, names: frozenset[str] | None, which: str) -> None:
        if not names:
            return
        if self._known_tools is None:
            raise UnknownToolError(
                f"cannot check the {which} list: no tool catalogue was given to the grant store"
            )
        unknown = sorted(names - self._known_tools)
        if unknown:
            raise UnknownToolError(f"unknown tool name(s) in the {which} list: {', '.join(unknown)}")

    async def _record(self, action: str, actor: str, target: str, details: Mapping[str, Any]) -> None:
        try:
            await self._events.admin_event(action=action, actor=actor, target=target, details=details)
        except Exception as exc:
            log.error("grant.change_refused", action=action, target=target, error=type(exc).__name__)
            raise UnauditedChangeError(
                f"{action} for {target} was not made: the audit log did not record it ({type(exc).__name__})"
            ) from exc

    async def _write(self, action: str, actor: str, target: str, statement: Any) -> None:
        try:
            async with self._store.engine.begin() as conn:
                result = await conn.execute(statement)
                # An UPDATE guarded by `revoked_at IS NULL` (and the old token id) that matched nothing
                # lost a race with another change; inserts fail loudly on their own.
                if statement.is_update and result.rowcount != 1:
                    raise GrantStateError(f"grant {target} changed concurrently; {action} not applied")
        except (SQLAlchemyError, GrantStateError) as exc:
            try:
                await self._events.admin_event(
                    action="grant.change_failed",
                    actor=actor,
                    target=target,
                    details={"action": action, "error": type(exc).__name__},
                )
            except Exception as event_exc:
                log.error("grant.change_failed_unrecorded", action=action, error=type(event_exc).__name__)
            raise


def describe(grant: Grant) -> dict[str, Any]:
    """The audit/JSON view of a grant: its row without token material, times in ISO 8601."""
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in _to_row(grant).items()
        if key != "token_id"
    }


_DECLARATIVE = (
    "principal_kind",
    "scopes",
    "expires_at",
    "allow_tools",
    "deny_tools",
    "read_only",
    "rate_per_minute",
    "label",
    "require_approval",
    "no_approval",
    "tool_limits",
)


def diff(before: Grant, after: Grant) -> dict[str, list[Any]]:
    """Changed declarative fields as {field: [before, after]} in the JSON view."""
    old, new = describe(before), describe(after)
    return {key: [old[key], new[key]] for key in _DECLARATIVE if old[key] != new[key]}


def _to_row(grant: Grant) -> dict[str, Any]:
    """The table row of a grant; the token's salt and digest are added from the minted token."""
    return {
        "id": grant.id,
        "principal": grant.principal,
        "principal_kind": grant.principal_kind.value,
        "environment": grant.environment.value,
        "scopes": sorted(scope.value for scope in grant.scopes),
        "expires_at": grant.expires_at,
        "allow_tools": sorted(grant.allow_tools) if grant.allow_tools is not None else None,
        "deny_tools": sorted(grant.deny_tools),
        "read_only": grant.read_only,
        "rate_per_minute": grant.rate_per_minute,
        "label": grant.label,
        "require_approval": sorted(grant.require_approval),
        "no_approval": sorted(grant.no_approval),
        "tool_limits": [
            {"tool": limit.tool, "calls": limit.calls, "window_seconds": limit.window_seconds}
            for limit in sorted(grant.tool_limits)
        ],
        "managed_by": grant.managed_by,
        "managed_name": grant.managed_name,
        "created_at": grant.created_at,
        "updated_at": grant.updated_at,
        "revoked_at": grant.revoked_at,
        "token_id": grant.token_id,
    }


def _to_grant(row: Row[Any]) -> Grant:
    """A row as a Grant. Unknown scope names in the row (from a newer version) are dropped: fail closed."""
    known = {scope.value for scope in Scope}
    return Grant(
        id=row.id,
        principal=row.principal,
        principal_kind=PrincipalKind(row.principal_kind),
        environment=Environment(row.environment),
        scopes=frozenset(Scope(name) for name in row.scopes if name in known),
        expires_at=row.expires_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        revoked_at=row.revoked_at,
        allow_tools=frozenset(row.allow_tools) if row.allow_tools is not None else None,
        deny_tools=frozenset(row.deny_tools),
        read_only=bool(row.read_only),
        rate_per_minute=row.rate_per_minute,
        label=row.label,
        require_approval=frozenset(row.require_approval or ()),
        no_approval=frozenset(row.no_approval or ()),
        tool_limits=tuple(
            ToolLimit(item["tool"], int(item["calls"]), int(item["window_seconds"]))
            for item in row.tool_limits or ()
        ),
        managed_by=row.managed_by,
        managed_name=row.managed_name,
        token_id=row.token_id,
    )
