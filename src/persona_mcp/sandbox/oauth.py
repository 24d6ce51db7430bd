"""The sandbox's OAuth 2 token endpoint (`POST /api/v1/oauth/token`), a `TokenIssuer`.

Emulates Persona's machine-to-machine grant: `client_credentials` with client_secret_post,
client_secret_basic or private_key_jwt (RFC 7523: an RS256/ES256 assertion with iss = sub = client id,
aud = the token URL, a unique jti and a lifetime of at most five minutes, verified against the
client's registered public key), plus the `refresh_token` grant. Responses are bare JSON objects;
access tokens start with `oat_`.

Refresh tokens rotate on every use, and presenting a spent one revokes its whole family (every
refresh and access token descended from the same client_credentials grant) and answers
`invalid_grant`, as RFC 9700 (OAuth 2.0 Security BCP) section 4.14.2 recommends. Lifetimes are
configurable down to seconds and the clock is injectable, so tests can move time instead of waiting.
`counters` lets a test check how many requests, refreshes and reuse detections happened.

Like the rest of the sandbox this module imports nothing from persona_mcp.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

TOKEN_PATH = "/api/v1/oauth/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Persona refuses client assertions valid for longer than this.
MAX_ASSERTION_LIFETIME = 300
ACCESS_TOKEN_PREFIX = "oat_"
REFRESH_TOKEN_PREFIX = "ort_"


@dataclass
class OAuthCounters:
    """What the token endpoint saw; tests read these to count refreshes."""

    token_requests: int = 0
    requests_by_grant: Counter[str] = field(default_factory=Counter)
    tokens_issued: int = 0
    refreshes: int = 0
    reuse_detections: int = 0
    errors: Counter[str] = field(default_factory=Counter)


@dataclass
class _Family:
    """Every token descended from one client_credentials grant."""

    client_id: str
    scope: str | None
    head: str | None = None
    revoked: bool = False
    access_tokens: set[str] = field(default_factory=set)


@dataclass
class _RefreshToken:
    family: _Family
    expires_at: float | None
    spent: bool = False


@dataclass
class _AccessToken:
    family: _Family
    expires_at: float
    revoked: bool = False


class _OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass(frozen=True)
class _Client:
    client_id: str
    secret: str | None
    public_key: RSAKey | ECKey | None


class SandboxOAuth:
    """Token issuer for `SandboxConfig(token_issuer=...)`.

    `clients` maps a client id to its shared secret, or to a PEM public key for private_key_jwt.
    `refresh=False` issues no refresh tokens. `audiences` lists extra accepted assertion audiences
    (the request's own URL is always accepted).
    """

    def __init__(
        self,
        clients: Mapping[str, str],
        *,
        access_token_ttl: float = 900,
        refresh: bool = True,
        refresh_token_ttl: float | None = None,
        audiences: frozenset[str] = frozenset(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        if access_token_ttl <= 0:
            raise ValueError("access_token_ttl must be positive")
        self._clients = {client_id: _parse_client(client_id, value) for client_id, value in clients.items()}
        self._access_ttl = access_token_ttl
        self._refresh = refresh
        self._refresh_ttl = refresh_token_ttl
        self._audiences = audiences
        self._clock = clock
        self._access: dict[str, _AccessToken] = {}
        self._refresh_tokens: dict[str, _RefreshToken] = {}
        self._seen_jti: dict[str, float] = {}
        self.counters = OAuthCounters()

    # -- TokenIssuer -------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [Route(TOKEN_PATH, self._token_endpoint, methods=["POST"], name="oauth_token")]

    def accepts(self, token: str) -> bool:
        issued = self._access.get(token)
        return (
            issued is not None
            and not issued.revoked
            and not issued.family.revoked
            and self._clock() < issued.expires_at
        )

    # -- inspection for tests ----------------------------------------------------------------------

    def family_head(self, refresh_token: str) -> str | None:
        """The newest unspent refresh token of `refresh_token`'s family (None if revoked or unknown)."""
        record = self._refresh_tokens.get(refresh_token)
        if record is None or record.family.revoked:
            return None
        return record.family.head

    def revoke_access_token(self, token: str) -> None:
        """Make an access token fail authentication early (as if Persona had revoked it)."""
        if token in self._access:
            self._access[token].revoked = True

    # -- the endpoint ------------------------------------------------------------------------------

    async def _token_endpoint(self, request: Request) -> JSONResponse:
        self.counters.token_requests += 1
        form = await request.form()
        params = {key.replace("-", "_"): value for key, value in form.items() if isinstance(value, str)}
        grant_type = params.get("grant_type", "")
        self.counters.requests_by_grant[grant_type or "<missing>"] += 1
        try:
            client = self._authenticate(request, params)
            if grant_type == "client_credentials":
                body = self._client_credentials(client, params.get("scope"))
            elif grant_type == "refresh_token":
                body = self._refresh_grant(client, params.get("refresh_token", ""))
            else:
                raise _OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
        except _OAuthError as exc:
            self.counters.errors[exc.error] += 1
            headers = {"Cache-Control": "no-store"}
            if exc.status == 401:
                headers["WWW-Authenticate"] = 'Basic realm="persona-sandbox"'
            return JSONResponse(
                {"error": exc.error, "error_description": exc.description},
                status_code=exc.status,
                headers=headers,
            )
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _client_credentials(self, client: _Client, scope: str | None) -> dict[str, Any]:
        family = _Family(client_id=client.client_id, scope=scope or None)
        return self._issue(family)

    def _refresh_grant(self, client: _Client, presented: str) -> dict[str, Any]:
        if not self._refresh:
            raise _OAuthError("unsupported_grant_type", "this server issues no refresh tokens")
        record = self._refresh_tokens.get(presented)
        if record is None or record.family.client_id != client.client_id:
            raise _OAuthError("invalid_grant", "refresh token is invalid")
        family = record.family
        if family.revoked:
            raise _OAuthError("invalid_grant", "refresh token was revoked")
        if record.spent:
            self.counters.reuse_detections += 1
            self._revoke(family)
            raise _OAuthError("invalid_grant", "refresh token was already used; its grant is revoked")
        if record.expires_at is not None and self._clock() >= record.expires_at:
            raise _OAuthError("invalid_grant", "refresh token expired")
        record.spent = True
        self.counters.refreshes += 1
        return self._issue(family)

    def _issue(self, family: _Family) -> dict[str, Any]:
        now = self._clock()
        access = ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(32)
        self._access[access] = _AccessToken(family=family, expires_at=now + self._access_ttl)
        family.access_tokens.add(access)
        self.counters.tokens_issued += 1
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": _seconds(self._access_ttl),
        }
        if self._refresh:
            refresh = REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)
            expires_at = now + self._refresh_ttl if self._refresh_ttl is not None else None
            self._refresh_tokens[refresh] = _RefreshToken(family=family, expires_at=expires_at)
            family.head = refresh
            body["refresh_token"] = refresh
        if family.scope:
            body["scope"] = family.scope
        return body

    def _revoke(self, family: _Family) -> None:
        family.revoked = True
        family.head = None
        for token in family.access_tokens:
            self._access[token].revoked = True

    # -- client authentication ---------------------------------------------------------------------

    def _authenticate(self, request: Request, params: Mapping[str, str]) -> _Client:
        basic = _basic_credentials(request.headers.get("authorization"))
        assertion = params.get("client_assertion")
        posted_secret = params.get("client_secret")
        methods = sum(1 for present in (basic, assertion, posted_secret) if present)
        if methods != 1:
            raise _OAuthError("invalid_client", "use exactly one client authentication method", 401)
        if assertion is not None:
            if params.get("client_assertion_type") != ASSERTION_TYPE:
                raise _OAuthError("invalid_client", "unsupported client_assertion_type", 401)
            return self._verify_assertion(assertion, str(request.url.replace(query="")))
        if basic is not None:
            client_id, secret = basic
        else:
            client_id, secret = params.get("client_id", ""), posted_secret or ""
        client = self._clients.get(client_id)
        if client is None or client.secret is None or not secrets.compare_digest(client.secret, secret):
            raise _OAuthError("invalid_client", "client authentication failed", 401)
        return client

    def _verify_assertion(self, assertion: str, token_url: str) -> _Client:
        failure = _OAuthError("invalid_client", "client assertion is invalid", 401)
        try:
            unverified = json.loads(jws.extract_compact(assertion.encode()).payload)
        except (JoseError, ValueError):
            raise failure from None
        issuer = unverified.get("iss") if isinstance(unverified, dict) else None
        client = self._clients.get(issuer) if isinstance(issuer, str) else None
        if client is None or client.public_key is None:
            raise failure
        try:
            claims = jwt.decode(assertion, client.public_key, algorithms=["RS256", "ES256"]).claims
        except (JoseError, ValueError):
            raise failure from None
        now = self._clock()
        exp, iat, jti = claims.get("exp"), claims.get("iat", now), claims.get("jti")
        audiences = claims.get("aud")
        audience_list = audiences if isinstance(audiences, list) else [audiences]
        if (
            claims.get("sub") != client.client_id
            or not ({token_url} | self._audiences).intersection(
                a for a in audience_list if isinstance(a, str)
            )
            or not isinstance(exp, int | float)
            or not isinstance(iat, int | float)
            or exp <= now
            or exp - iat > MAX_ASSERTION_LIFETIME
            or not isinstance(jti, str)
            or jti in self._seen_jti
        ):
            raise failure
        self._seen_jti = {j: e for j, e in self._seen_jti.items() if e > now}
        self._seen_jti[jti] = float(exp)
        return client


def _parse_client(client_id: str, value: str) -> _Client:
    if value.lstrip().startswith("-----BEGIN"):
        try:
            key: RSAKey | ECKey = RSAKey.import_key(value)
        except Exception:
            key = ECKey.import_key(value)
        return _Client(client_id=client_id, secret=None, public_key=key)
    return _Client(client_id=client_id, secret=value, public_key=None)


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _OAuthError("invalid_client", "malformed Basic credentials", 401) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise _OAuthError("invalid_client", "malformed Basic credentials", 401)
    return unquote(client_id), unquote(secret)


def _seconds(ttl: float) -> int | float:
    return int(ttl) if float(ttl).is_integer() else ttl
