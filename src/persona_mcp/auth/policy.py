"""The policy: one plain function deciding whether a grant may run a tool now.

Checks, in the documented exposure order (grant scopes -> read-only -> excluded -> included):
the grant is live; the tool's scope is covered by the effective scopes (a JWT can only narrow the grant);
a read-only grant runs only `read` tools; the deny list; the allow list; and a tool whose result masking
cannot reach (a PDF) needs `pii:read` too. Anything unexpected (an effect outside the three known ones, a
scope that is not a `Scope`) is a denial: every doubt resolves to deny. Calling (`decide`) and listing
(`visible`) use the same function, so a tool is listed exactly when a call would be allowed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from persona_mcp.auth.grant import Grant, GrantState
from persona_mcp.auth.scopes import Scope, expand

EFFECTS = frozenset({"read", "write", "destructive"})


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer, with a reason fit for the audit record and the caller's error message."""

    allowed: bool
    reason: str
    missing_scope: Scope | None = None


def effective_scopes(grant: Grant, jwt_scopes: frozenset[Scope] | None = None) -> frozenset[Scope]:
    """What the caller holds: the grant's scopes, narrowed by the token's scopes when it is a JWT."""
    held = expand(grant.scopes)
    if jwt_scopes is None:
        return held
    return held & expand(jwt_scopes)


def authorize(
    grant: Grant,
    *,
    tool: str,
    scope: Scope,
    effect: str,
    now: datetime,
    jwt_scopes: frozenset[Scope] | None = None,
    unmaskable: bool = False,
) -> Decision:
    """Whether `grant` (narrowed by `jwt_scopes`) may call `tool` now.

    `unmaskable` marks a tool whose result carries personal data that masking cannot reach: the caller
    must then hold `pii:read` as well, since the result cannot be shown to it masked.
    """
    state = grant.state(now)
    if state is GrantState.REVOKED:
        return Decision(False, "grant revoked")
    if state is GrantState.EXPIRED:
        return Decision(False, "grant expired")
    if not isinstance(scope, Scope):
        return Decision(False, f"tool {tool} declares no known scope")
    if effect not in EFFECTS:
        return Decision(False, f"tool {tool} declares an unknown effect")
    if scope not in expand(grant.scopes):
        return Decision(False, f"grant lacks scope {scope.value}", missing_scope=scope)
    if jwt_scopes is not None and scope not in expand(jwt_scopes):
        return Decision(False, f"access token lacks scope {scope.value}", missing_scope=scope)
    if grant.read_only and effect != "read":
        return Decision(False, "grant is read-only")
    if tool in grant.deny_tools:
        return Decision(False, f"tool {tool} is on the grant's deny list")
    if grant.allow_tools is not None and tool not in grant.allow_tools:
        return Decision(False, f"tool {tool} is not on the grant's allow list")
    if unmaskable and Scope.PII_READ not in effective_scopes(grant, jwt_scopes):
        return Decision(
            False, "its result holds personal data that cannot be masked", missing_scope=Scope.PII_READ
        )
    return Decision(True, "allowed")


class ToolLike(Protocol):
    """What listing needs from a tool spec (satisfied by `tools.spec.ToolSpec`)."""

    @property
    def name(self) -> str: ...

    @property
    def scope(self) -> Scope: ...

    @property
    def effect(self) -> str: ...

    @property
    def unmaskable(self) -> bool: ...


ToolT = TypeVar("ToolT", bound=ToolLike)


def decide(
    grant: Grant, tool: ToolLike, *, now: datetime, jwt_scopes: frozenset[Scope] | None = None
) -> Decision:
    """`authorize` for a tool spec: its name, scope, effect and maskability taken from the spec."""
    return authorize(
        grant,
        tool=tool.name,
        scope=tool.scope,
        effect=tool.effect,
        now=now,
        jwt_scopes=jwt_scopes,
        unmaskable=tool.unmaskable,
    )


def visible(
    grant: Grant,
    tools: Iterable[ToolT],
    *,
    now: datetime,
    jwt_scopes: frozenset[Scope] | None = None,
) -> list[ToolT]:
    """The tools `decide` would allow at `now`, in the given order (what `tools/list` shows)."""
    return [tool for tool in tools if decide(grant, tool, now=now, jwt_scopes=jwt_scopes).allowed]
