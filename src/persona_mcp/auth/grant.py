"""A grant: what one principal may do in one Persona environment, until when.

Plain frozen values. `Grant` is what the store hands out and what the policy reads; `GrantDraft` is what
an administrator asks for (CLI flags or a `grants.toml` entry) before the store validates it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from persona_mcp.auth.environment import Environment
from persona_mcp.auth.scopes import Scope


class PrincipalKind(StrEnum):
    """Who holds the grant: an automated agent or a person."""

    AGENT = "agent"
    PERSON = "person"


@dataclass(frozen=True, slots=True, order=True)
class ToolLimit:
    """At most `calls` calls of `tool` per `window_seconds` under one grant (counted across replicas)."""

    tool: str
    calls: int
    window_seconds: int

    def __str__(self) -> str:
        return f"{self.tool}={self.calls}/{self.window_seconds}s"


class GrantState(StrEnum):
    LIVE = "live"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class Grant:
    """One stored grant. Holds no token material: the token is shown once, at creation or rotation."""

    id: str
    principal: str
    principal_kind: PrincipalKind
    environment: Environment
    scopes: frozenset[Scope]
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    revoked_at: datetime | None = None
    allow_tools: frozenset[str] | None = None
    deny_tools: frozenset[str] = frozenset()
    read_only: bool = False
    rate_per_minute: int | None = None
    label: str | None = None
    managed_by: str | None = None
    managed_name: str | None = None
    token_id: str = field(default="", repr=False)
    #: Tools whose calls need a person's approval under this grant, beyond their declared policy.
    require_approval: frozenset[str] = frozenset()
    #: Tools whose declared approval an administrator waived for this grant (`--no-approval`).
    no_approval: frozenset[str] = frozenset()
    #: Calls per tool per window (`--tool-limit decline_inquiry=10/1h`).
    tool_limits: tuple[ToolLimit, ...] = ()

    def state(self, now: datetime) -> GrantState:
        """Revocation wins over expiry; an expiry equal to `now` has already passed."""
        if self.revoked_at is not None and self.revoked_at <= now:
            return GrantState.REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return GrantState.EXPIRED
        return GrantState.LIVE

    def is_live(self, now: datetime) -> bool:
        return self.state(now) is GrantState.LIVE


@dataclass(frozen=True, slots=True)
class GrantDraft:
    """The declarative part of a grant, as requested. `scopes=None` means the read-only default."""

    principal: str
    environment: Environment
    scopes: frozenset[Scope] | None = None
    principal_kind: PrincipalKind = PrincipalKind.AGENT
    expires_at: datetime | None = None
    allow_tools: frozenset[str] | None = None
    deny_tools: frozenset[str] = frozenset()
    read_only: bool = False
    rate_per_minute: int | None = None
    label: str | None = None
    require_approval: frozenset[str] = frozenset()
    no_approval: frozenset[str] = frozenset()
    tool_limits: tuple[ToolLimit, ...] = ()


@dataclass(frozen=True, slots=True)
class IssuedGrant:
    """A grant together with its clear token: returned by create and rotate only, printed once."""

    grant: Grant
    token: str = field(repr=False)
