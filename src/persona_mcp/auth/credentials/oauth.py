"""Talking to an OAuth 2 token endpoint (Persona's /oauth/token or a gateway) with authlib.

Supports the client_credentials grant with client_secret_post, client_secret_basic or private_key_jwt
(RFC 7523; RS256 for RSA keys, ES256 for P-256 keys, assertions valid for at most five minutes as
Persona requires), and the refresh_token grant where the server issues refresh tokens. Errors are
sorted into permanent ones (the grant or the client was rejected: only an admin can fix it) and
transient ones (network, 5xx), so the caller disables a dead credential and retries nothing else.

This module is what the credential code sees (the client, the token, the errors); the authlib side is
`oauth_flow`, imported by the first token request, so a server with API keys only never loads authlib.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx2
from pydantic import SecretStr

from persona_mcp.auth.credentials.models import StoredCredential

#: OAuth error codes after which retrying the same request cannot succeed (RFC 6749 section 5.2).
PERMANENT_ERRORS = frozenset(
    {"invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope", "unsupported_grant_type"}
)

#: The shape of an RFC 6749 error code. Anything else in `error` is upstream-chosen text; since the code
#: goes on into `disabled_reason`, the audit log and the logs, it is replaced by `oauth_error`.
_ERROR_CODE = re.compile(r"[a-z_]{1,40}")


def error_code(error: object) -> str:
    return error if isinstance(error, str) and _ERROR_CODE.fullmatch(error) else "oauth_error"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: SecretStr
    expires_at: datetime | None
    refresh_token: SecretStr | None
    scope: str | None


class TokenEndpointError(Exception):
    """The token endpoint refused or failed. `error` is the OAuth error code (or a transport label)."""

    def __init__(self, error: str, *, permanent: bool, status: int | None = None) -> None:
        super().__init__(f"token endpoint error: {error}" + (f" (HTTP {status})" if status else ""))
        self.error = error
        self.permanent = permanent
        self.status = status


class TokenEndpointClient:
    """Obtains tokens for a stored OAuth client credential."""

    def __init__(
        self,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        timeout_seconds: float = 30.0,
        clock: Callable[[], datetime],
    ) -> None:
        self._transport = transport
        self._timeout = timeout_seconds
        self._clock = clock

    async def client_credentials(self, credential: StoredCredential) -> IssuedToken:
        return await self._request(credential, refresh_token=None)

    async def refresh(self, credential: StoredCredential, refresh_token: SecretStr) -> IssuedToken:
        return await self._request(credential, refresh_token=refresh_token)

    async def _request(self, credential: StoredCredential, *, refresh_token: SecretStr | None) -> IssuedToken:
        # authlib and joserfc load with the first token request: a server without OAuth credentials
        # never imports them.
        from persona_mcp.auth.credentials.oauth_flow import request_token

        return await request_token(
            credential,
            refresh_token=refresh_token,
            transport=self._transport,
            timeout_seconds=self._timeout,
            clock=self._clock,
        )


def issued_token(token: Any, requested_at: datetime) -> IssuedToken:
    access = token.get("access_token")
    if not isinstance(access, str) or not access:
        raise TokenEndpointError("malformed_response", permanent=False)
    expires_in = token.get("expires_in")
    expires_at = (
        requested_at + timedelta(seconds=float(expires_in)) if isinstance(expires_in, int | float) else None
    )
    refresh = token.get("refresh_token")
    return IssuedToken(
        access_token=SecretStr(access),
        expires_at=expires_at,
        refresh_token=SecretStr(refresh) if isinstance(refresh, str) and refresh else None,
        scope=token.get("scope"),
    )


def snake_case_token_response(response: httpx2.Response) -> httpx2.Response:
    """Persona's OAuth endpoints may answer in kebab-case (`access-token`); authlib expects snake_case."""
    try:
        body = response.json()
    except ValueError:
        return response
    if not isinstance(body, dict) or not any("-" in key for key in body):
        return response
    normalised = {key.replace("-", "_"): value for key, value in body.items()}
    return httpx2.Response(
        response.status_code,
        headers={"content-type": "application/json"},
        content=json.dumps(normalised).encode(),
        request=response.request,
    )
