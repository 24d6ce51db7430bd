"""The authlib side of `oauth`: one token request (client_credentials or refresh_token), private_key_jwt
client assertions capped at Persona's five minutes, and reading a PEM signing key.

Imported only when an OAuth credential asks for a token (or `credentials add` checks a key).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx2
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign
from joserfc.jwk import ECKey, RSAKey
from pydantic import SecretStr

from persona_mcp.auth.credentials.models import ClientAuthMethod, StoredCredential
from persona_mcp.auth.credentials.oauth import (
    PERMANENT_ERRORS,
    IssuedToken,
    TokenEndpointError,
    error_code,
    issued_token,
    snake_case_token_response,
)

#: Persona rejects client assertions that live longer than five minutes.
ASSERTION_LIFETIME_SECONDS = 300


class _ShortLivedPrivateKeyJWT(PrivateKeyJWT):  # type: ignore[misc]
    """authlib's private_key_jwt with the assertion lifetime capped for Persona, timed by our clock."""

    def __init__(self, token_endpoint: str, *, alg: str, clock: Callable[[], datetime]) -> None:
        super().__init__(token_endpoint, alg=alg)
        self._clock = clock

    def sign(self, auth: Any, token_endpoint: str) -> Any:
        issued_at = int(self._clock().timestamp())
        return private_key_jwt_sign(
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            alg=self.alg,
            issued_at=issued_at,
            expires_at=issued_at + ASSERTION_LIFETIME_SECONDS,
        )


def signing_key(pem: str) -> tuple[RSAKey | ECKey, str]:
    """Import a PEM private key and choose its JWS algorithm (RS256 or ES256)."""
    try:
        return RSAKey.import_key(pem), "RS256"
    except Exception:
        pass
    try:
        key = ECKey.import_key(pem)
    except Exception:
        raise ValueError("the private key is neither an RSA nor an EC (P-256) PEM key") from None
    if key.curve_name != "P-256":
        raise ValueError(f"EC keys must use P-256 for ES256; got {key.curve_name}")
    return key, "ES256"


async def request_token(
    credential: StoredCredential,
    *,
    refresh_token: SecretStr | None,
    transport: httpx2.AsyncBaseTransport | None,
    timeout_seconds: float,
    clock: Callable[[], datetime],
) -> IssuedToken:
    """One token request for `credential`; `TokenEndpointError` says why it failed."""
    info = credential.info
    assert info.token_url and info.client_id and info.auth_method
    method = info.auth_method
    secret: Any = credential.secret.get_secret_value()
    alg: str | None = None
    if method is ClientAuthMethod.PRIVATE_KEY_JWT:
        secret, alg = signing_key(secret)
    kwargs: dict[str, Any] = {"timeout": timeout_seconds}
    if transport is not None:
        kwargs["transport"] = transport
    client = AsyncOAuth2Client(
        client_id=info.client_id,
        client_secret=secret,
        token_endpoint_auth_method=method.value,
        scope=info.scope,
        **kwargs,
    )
    if alg is not None:
        client.register_client_auth_method(_ShortLivedPrivateKeyJWT(info.token_url, alg=alg, clock=clock))
    client.register_compliance_hook("access_token_response", snake_case_token_response)
    client.register_compliance_hook("refresh_token_response", snake_case_token_response)
    requested_at = clock()
    try:
        async with client:
            if refresh_token is None:
                token = await client.fetch_token(info.token_url, grant_type="client_credentials")
            else:
                token = await client.refresh_token(
                    info.token_url, refresh_token=refresh_token.get_secret_value()
                )
    except OAuthError as exc:
        code = error_code(exc.error)
        raise TokenEndpointError(code, permanent=code in PERMANENT_ERRORS) from None
    except httpx2.HTTPStatusError as exc:
        raise TokenEndpointError("http_error", permanent=False, status=exc.response.status_code) from None
    except httpx2.TransportError as exc:
        raise TokenEndpointError(type(exc).__name__, permanent=False) from None
    except ValueError:
        raise TokenEndpointError("malformed_response", permanent=False) from None
    return issued_token(token, requested_at)


__all__ = ["ASSERTION_LIFETIME_SECONDS", "request_token", "signing_key"]
