"""Who is calling: the same question answered per transport.

stdio and in-memory sessions carry one grant token for the whole process (`PERSONA_MCP_TOKEN`); HTTP
requests carry a bearer token the SDK's `TokenVerifier` has already checked. Either way the token is
resolved again on every request (the resolver caches for at most a few seconds), so a revoked or
expired grant stops working on the next call.
"""

from __future__ import annotations

from typing import Any, Protocol

from mcp.server.auth.middleware.auth_context import get_access_token

from persona_mcp.auth.callers import Caller, CallerResolver, TokenRefusal
from persona_mcp.auth.verifier import caller_from_access_token


class CallerSource(Protocol):
    async def current(self, ctx: Any) -> Caller | None: ...

    async def refusal(self, ctx: Any) -> TokenRefusal:
        """Why `current` gave no caller: the reason and the grant the token names, for the record."""
        ...


class StaticTokenCallers:
    """One token for the whole connection (stdio, in-memory)."""

    def __init__(self, resolver: CallerResolver, token: str | None) -> None:
        self._resolver = resolver
        self.token = token

    async def current(self, ctx: Any) -> Caller | None:
        if not self.token:
            return None
        try:
            return await self._resolver.resolve(self.token)
        except Exception:
            return None  # every doubt resolves to deny

    async def refusal(self, ctx: Any) -> TokenRefusal:
        try:
            return await self._resolver.refusal(self.token)
        except Exception:
            return TokenRefusal("the grant store could not be read")


class BearerTokenCallers:
    """The caller behind the HTTP request's verified bearer token."""

    def __init__(self, resolver: CallerResolver) -> None:
        self._resolver = resolver

    async def current(self, ctx: Any) -> Caller | None:
        access_token = get_access_token()
        if access_token is None:
            return None
        try:
            return caller_from_access_token(access_token)
        except Exception:
            return None

    async def refusal(self, ctx: Any) -> TokenRefusal:
        # Requests without a verified token are answered 401 (and recorded) before the MCP layer.
        return TokenRefusal("no verified bearer token")
