"""Talking to an OAuth 2 token endpoint (Persona's /oauth/token or a gateway) with authlib.

Supports the client_credentials grant with client_secret_post, client_secret_basic or private_key_jwt
(RFC 7523; RS256 for RSA keys, ES256 for P-256 keys, assertions valid for at most five minutes as
Persona requires), and the refresh_token grant where the server issues refresh tokens. Errors are
sorted into permanent ones (the grant or the client was rejected: only an admin can fix it) and
transient ones (network, 5xx), so the caller disables a dead credential and retries nothing else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx2
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign
from joserfc.jwk import ECKey, RSAKey
from pydantic import SecretStr

from persona_mcp.auth.credentials.models import ClientAuthMethod, StoredCredential

#: Persona rejects client assertions that live longer than five minutes.
ASSERTION_LIFETIME_SECONDS = 300

#: OAuth error codes after which retrying the same request cannot succeed (RFC 6749 section 5.2).
_PERMANENT_ERRORS = frozenset(
    {"invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope", "unsupported_grant_type"}
)

#: The shape of an RFC 6749 error code. Anything else in `error` is upstream-chosen text; since the code
#: goes on into `disabled_reason`, the audit log and the logs, it is replaced by `oauth_error`.
_ERROR_CODE = re.compile(r"[a-z_]{1,40}")


def _error_code(error: object) -> str:
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
        info = credential.info
        assert info.token_url and info.client_id and info.auth_method
        method = info.auth_method
        secret: Any = credential.secret.get_secret_value()
        alg: str | None = None
        if method is ClientAuthMethod.PRIVATE_KEY_JWT:
            secret, alg = signing_key(secret)
        kwargs: dict[str, Any] = {"timeout": self._timeout}
        if self._transport is not None:
            kwargs["transport"] = self._transport
        client = AsyncOAuth2Client(
            client_id=info.client_id,
            client_secret=secret,
            token_endpoint_auth_method=method.value,
            scope=info.scope,
            **kwargs,
        )
        if alg is not None:
            client.register_client_auth_method(
                _ShortLivedPrivateKeyJWT(info.token_url, alg=alg, clock=self._clock)
            )
        client.register_compliance_hook("access_token_response", _snake_case_token_response)
        client.register_compliance_hook("refresh_token_response", _snake_case_token_response)
        requested_at = self._clock()
        try:
            async with client:
                if refresh_token is None:
                    token = await client.fetch_token(info.token_url, grant_type="client_credentials")
                else:
                    token = await client.refresh_token(
                        info.token_url, refresh_token=refresh_token.get_secret_value()
                    )
        except OAuthError as exc:
            code = _error_code(exc.error)
            raise TokenEndpointError(code, permanent=code in _PERMANENT_ERRORS) from None
        except httpx2.HTTPStatusError as exc:
            raise TokenEndpointError("http_error", permanent=False, status=exc.response.status_code) from None
        except httpx2.TransportError as exc:
            raise TokenEndpointError(type(exc).__name__, permanent=False) from None
        except ValueError:
            raise TokenEndpointError("malformed_response", permanent=False) from None
        return _issued(token, requested_at)


def _issued(token: Any, requested_at: datetime) -> IssuedToken:
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


def _snake_case_token_response(response: httpx2.Response) -> httpx2.Response:
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
