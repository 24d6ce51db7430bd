"""Bearer tokens over HTTP, through the MCP SDK: a `TokenVerifier` that resolves callers.

The SDK's bearer backend calls `verify_token` on every request; the returned `AccessToken` carries the
resolved `Caller` in a private attribute (never serialised), which the call pipeline takes back with
`caller_from_access_token`. `resource` is set to this server's resource URL for both token kinds: grant
tokens are issued by this server for itself, and JWTs have had their audience checked against it.
"""

from __future__ import annotations

from mcp.server.auth.provider import AccessToken
from pydantic import PrivateAttr

from persona_mcp.auth.callers import Caller, CallerResolver

#: Access tokens remembered at most (one per cached caller; the resolver keeps about as many).
_MAX_ISSUED = 4096


class CallerAccessToken(AccessToken):
    """An `AccessToken` that remembers the caller it was resolved to."""

    _caller: Caller | None = PrivateAttr(default=None)

    @property
    def caller(self) -> Caller | None:
        return self._caller


class CallerTokenVerifier:
    """Implements `mcp.server.auth.provider.TokenVerifier` over a `CallerResolver`."""

    def __init__(self, resolver: CallerResolver, *, resource_url: str | None = None) -> None:
        self._resolver = resolver
        self._resource_url = resource_url
        # The access token made for each caller the resolver returned: its cache hands back the same
        # `Caller` for a token until the entry expires, so the model is built once per entry, not per
        # request. A cached token holds its caller, so the caller's id cannot be reused while it is here.
        self._issued: dict[int, CallerAccessToken] = {}

    async def verify_token(self, token: str) -> AccessToken | None:
        """An access token for a live caller, or None (malformed, unknown, revoked, expired: all deny)."""
        caller = await self._resolver.resolve(token)
        if caller is None:
            return None
        issued = self._issued.get(id(caller))
        if issued is not None and issued.caller is caller and issued.token == token:
            return issued
        access = self._access_token(caller, token)
        if len(self._issued) >= _MAX_ISSUED:
            self._issued.clear()
        self._issued[id(caller)] = access
        return access

    def _access_token(self, caller: Caller, token: str) -> CallerAccessToken:
        claims: dict[str, object] = {"grant_id": caller.grant.id, "token_kind": caller.token_kind}
        if caller.actor is not None:
            claims["act"] = {"sub": caller.actor}
        access = CallerAccessToken(
            token=token,
            client_id=caller.client_id or f"grant:{caller.grant.id}",
            scopes=sorted(scope.value for scope in caller.effective_scopes),
            expires_at=int(caller.expires_at.timestamp()) if caller.expires_at is not None else None,
            resource=self._resource_url,
            subject=caller.subject or caller.principal,
            claims=claims,
        )
        access._caller = caller
        return access


def caller_from_access_token(access_token: AccessToken | None) -> Caller | None:
    """The caller behind a verified access token, or None if it was not made by `CallerTokenVerifier`."""
    if isinstance(access_token, CallerAccessToken):
        return access_token.caller
    return None
