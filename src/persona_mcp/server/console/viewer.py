"""Who is looking at the console, and what their grant lets them see: the same grants and scopes as tools."""

from __future__ import annotations

from dataclasses import dataclass

from persona_mcp.auth.grant import Grant
from persona_mcp.auth.scopes import Scope, expand


@dataclass(frozen=True, slots=True)
class Viewer:
    """A signed-in person: their grant, and the cookie their CSRF tokens are bound to.

    Signed in through the authorization server, they also carry the person and the scopes of the token
    (what they consented to), and the token family; they then hold what both the grant and the token hold.
    """

    grant: Grant
    cookie: str
    signed_in_as: str | None = None
    token_scopes: frozenset[Scope] | None = None
    family_id: str | None = None

    @property
    def person(self) -> str:
        return self.signed_in_as or self.grant.principal

    @property
    def actor(self) -> str:
        """How the audit log names this person's console changes: who, where, under which grant."""
        return f"{self.person} (console, grant {self.grant.id})"

    @property
    def scopes(self) -> frozenset[Scope]:
        """What this person may do here: the grant's scopes, narrowed to the token's when there is one."""
        held = expand(self.grant.scopes)
        return held if self.token_scopes is None else held & expand(self.token_scopes)

    def holds(self, scope: Scope) -> bool:
        return scope in self.scopes

    @property
    def environments(self) -> frozenset[str] | None:
        """The environments whose calls this person may review (None: all, admin records included),
        by the same rule as the reviewer tools."""
        if self.holds(Scope.AUDIT_ALL_ENVIRONMENTS):
            return None
        return frozenset({self.grant.environment.value})


__all__ = ["Viewer"]
