"""Who may call the sandbox: configured API keys, plus tokens from an optional issuer (OAuth)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from starlette.routing import BaseRoute

from persona_mcp.sandbox.errors import ApiError


@runtime_checkable
class TokenIssuer(Protocol):
    """A pluggable token endpoint: its routes are mounted unauthenticated, its tokens are accepted."""

    def routes(self) -> list[BaseRoute]:
        """Routes to mount (e.g. POST /api/v1/oauth/token); they bypass bearer authentication."""
        ...

    def accepts(self, token: str) -> bool:
        """True for bearer tokens this issuer handed out and that are still valid."""
        ...


def bearer_token(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The token of an `Authorization: Bearer ...` header, or None when absent or another scheme."""
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


def authenticate(token: str | None, api_keys: frozenset[str], issuer: TokenIssuer | None) -> str:
    """Return the credential that authorised the call, or raise Persona's 401 error."""
    if token is None:
        raise ApiError(401, "Must be authenticated to access this endpoint")
    if token in api_keys or (issuer is not None and issuer.accepts(token)):
        return token
    raise ApiError(401, "Token is invalid")
