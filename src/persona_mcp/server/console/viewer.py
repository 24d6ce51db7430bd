"""Who is looking at the console, and what their grant lets them see: the same grants and scopes as tools."""

from __future__ import annotations

from dataclasses import dataclass

from persona_mcp.auth.grant import Grant
from persona_mcp.auth.scopes import Scope, expand


@dataclass(frozen=True, slots=True)
class Viewer:
    """A signed-in person: their grant, and the cookie their CSRF tokens are bound to."""

    grant: Grant
    cookie: str

    @property
    def person(self) -> str:
        return self.grant.principal

    @property
    def actor(self) -> str:
        """How the audit log names this person's console changes: who, where, under which grant."""
        return f"{self.grant.principal} (console, grant {self.grant.id})"

    def holds(self, scope: Scope) -> bool:
        return scope in expand(self.grant.scopes)

    @property
    def environments(self) -> frozenset[str] | None:
        """The environments whose calls this person may review (None: all, admin records included),
        by the same rule as the reviewer tools."""
        if self.holds(Scope.AUDIT_ALL_ENVIRONMENTS):
            return None
        return frozenset({self.grant.environment.value})


__all__ = ["Viewer"]
