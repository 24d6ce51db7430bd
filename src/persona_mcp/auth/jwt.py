"""Verifying external JWT access tokens: signature by the issuer's JWKS, issuer, audience, times.

Keys are fetched with httpx2 and cached; a token naming an unknown `kid` triggers one refetch (at most
every `jwks_refetch_min_seconds`, so garbage tokens cannot turn this server into a JWKS hammer), which is
how key rotation at the issuer is picked up without a restart. Every failure is a `None`, logged with its
reason but never with the token.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx2
import structlog
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from persona_mcp.auth.callers import VerifiedJwt
from persona_mcp.auth.environment import Environment
from persona_mcp.auth.scopes import Scope
from persona_mcp.auth.settings import OAuthSettings, jwks_url_problem

log = structlog.get_logger(__name__)

_KNOWN_SCOPES = {scope.value: scope for scope in Scope}


class JwtVerifier:
    """Checks JWT access tokens from the configured issuer for this server's resource URL."""

    def __init__(
        self,
        settings: OAuthSettings,
        *,
        audience: str | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not settings.issuer or not settings.jwks_url:
            raise ValueError("JWT callers need PERSONA_MCP_OAUTH_ISSUER and PERSONA_MCP_OAUTH_JWKS_URL")
        problem = jwks_url_problem(settings.jwks_url)
        if problem:
            raise ValueError(problem)  # settings changed after validation must not slip past the rule
        resource = audience or settings.resource_url
        if not resource:
            raise ValueError("JWT callers need this server's resource URL (PERSONA_MCP_OAUTH_RESOURCE_URL)")
        self._settings = settings
        self._issuer = settings.issuer
        self._jwks_url = settings.jwks_url
        self._audience = resource
        self._transport = transport
        self._clock = clock
        self._monotonic = monotonic
        self._keys: KeySet | None = None
        self._fetched_at: float | None = None
        self._lock = anyio.Lock()

    @property
    def environment(self) -> Environment | None:
        return self._settings.environment

    @property
    def audience(self) -> str:
        return self._audience

    async def verify(self, token: str) -> VerifiedJwt | None:
        """The verified identity in `token`, or None if anything about it is wrong."""
        try:
            header = jws.extract_compact(token.encode("ascii")).headers()
        except (JoseError, ValueError, UnicodeError) as exc:
            _log_refusal("malformed token", exc)
            return None
        alg = header.get("alg")
        if alg not in self._settings.algorithms:
            _log_refusal("algorithm not allowed")
            return None
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            _log_refusal("malformed kid")
            return None
        key = await self._key_for(kid)
        if key is None:
            _log_refusal("no key for kid")
            return None
        try:
            with warnings.catch_warnings():
                # "EdDSA" is deprecated by RFC 9864 in favour of "Ed25519"; issuers still send it.
                warnings.simplefilter("ignore")
                decoded = jwt.decode(token, key, algorithms=[alg])
            self._registry().validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            _log_refusal("signature or claims invalid", exc)
            return None
        return self._identity(decoded.claims)

    def _registry(self) -> JWTClaimsRegistry:
        leeway = self._settings.leeway_seconds
        return JWTClaimsRegistry(
            now=int(self._clock()),
            leeway=leeway,
            iss={"essential": True, "value": self._issuer},
            aud={"essential": True, "value": self._audience},
            exp={"essential": True},
            sub={"essential": True},
        )

    def _identity(self, claims: dict[str, Any]) -> VerifiedJwt | None:
        principal = claims.get(self._settings.principal_claim)
        if not isinstance(principal, str) or not principal:
            _log_refusal("principal claim missing")
            return None
        subject = claims["sub"]
        if not isinstance(subject, str):
            _log_refusal("sub is not a string")
            return None
        try:
            expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
        except (OverflowError, OSError, ValueError) as exc:
            # A far-future `exp` passes the claims check but is no calendar date; refuse, never raise.
            _log_refusal("exp out of range", exc)
            return None
        client_id = claims.get("client_id") or claims.get("azp")
        act = claims.get("act")
        actor = act.get("sub") if isinstance(act, dict) else None
        return VerifiedJwt(
            principal=principal,
            subject=subject,
            client_id=client_id if isinstance(client_id, str) else None,
            actor=actor if isinstance(actor, str) else None,
            scopes=_scopes(claims),
            expires_at=expires_at,
            issuer=self._issuer,
        )

    async def _key_for(self, kid: str | None) -> Any:
        keys = await self._current_keys()
        key = _lookup(keys, kid)
        if key is not None:
            return key
        if (
            self._fetched_at is not None
            and self._monotonic() - self._fetched_at < self._settings.jwks_refetch_min_seconds
        ):
            return None
        return _lookup(await self._fetch(), kid)

    async def _current_keys(self) -> KeySet | None:
        fresh = (
            self._fetched_at is not None
            and self._monotonic() - self._fetched_at < self._settings.jwks_cache_seconds
        )
        if self._keys is not None and fresh:
            return self._keys
        return await self._fetch()

    async def _fetch(self) -> KeySet | None:
        """Fetch the JWKS; on failure keep the last good keys (an issuer outage should not lock users out)."""
        requested = self._monotonic()
        async with self._lock:
            if self._fetched_at is not None and self._fetched_at >= requested:
                return self._keys  # another request fetched while this one waited for the lock
            try:
                async with httpx2.AsyncClient(
                    transport=self._transport, timeout=self._settings.http_timeout_seconds
                ) as client:
                    response = await client.get(self._jwks_url, headers={"Accept": "application/json"})
                    response.raise_for_status()
                    self._keys = KeySet.import_key_set(response.json())
            except (httpx2.HTTPError, JoseError, ValueError, KeyError, TypeError) as exc:
                log.warning("jwks.fetch_failed", url=self._jwks_url, error=type(exc).__name__)
            self._fetched_at = self._monotonic()
            return self._keys


def _lookup(keys: KeySet | None, kid: str | None) -> Any:
    if keys is None:
        return None
    try:
        return keys.get_by_kid(kid)
    except JoseError:
        return None


def _scopes(claims: dict[str, Any]) -> frozenset[Scope]:
    """Our scopes among the token's (`scope` space-separated, or `scp` list/string); others are ignored.

    Ignoring a foreign scope (`openid`, `offline_access`) cannot widen anything: token scopes only narrow
    the grant. A token without any scope claim narrows it to nothing.
    """
    raw = claims.get("scope", claims.get("scp"))
    names: list[str] = []
    if isinstance(raw, str):
        names = raw.split()
    elif isinstance(raw, list):
        names = [item for item in raw if isinstance(item, str)]
    return frozenset(_KNOWN_SCOPES[name] for name in names if name in _KNOWN_SCOPES)


def _log_refusal(reason: str, exc: BaseException | None = None) -> None:
    log.info("jwt.refused", reason=reason, error=type(exc).__name__ if exc else None)
