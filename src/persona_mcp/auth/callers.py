"""Who is calling: a bearer token (a grant token, an access token of the built-in authorization server,
or an external JWT) resolved to a `Caller`.

Resolutions are cached for at most `cache_seconds` (2 s by default) and never past the grant's expiry or
the JWT's `exp`, so revoking a grant takes effect on the next call after that window: the price of the
cache is bounded, and the hot path (the same token on every call of a session) skips the database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

import structlog

from persona_mcp.auth import tokens
from persona_mcp.auth.environment import Environment
from persona_mcp.auth.grant import Grant
from persona_mcp.auth.grants import GrantStore, utcnow
from persona_mcp.auth.policy import effective_scopes
from persona_mcp.auth.scopes import Scope
from persona_mcp.single_flight import SingleFlight

log = structlog.get_logger(__name__)

TokenKind = Literal["grant", "jwt", "oauth"]
DEFAULT_CACHE_SECONDS = 2.0
_CACHE_MAX_ENTRIES = 4096


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller and the grant it acts under.

    `jwt_scopes` is None for grant tokens (the grant's scopes apply as they are) and the token's scopes
    for JWT and OAuth callers (which can only narrow the grant). `actor` is the JWT `act.sub`: who acts on
    the subject's behalf (RFC 8693), if anyone. For OAuth callers `client_id` is the registered client
    and `subject` the person who consented.
    """

    principal: str
    grant: Grant
    token_kind: TokenKind
    subject: str | None = None
    client_id: str | None = None
    actor: str | None = None
    jwt_scopes: frozenset[Scope] | None = None
    expires_at: datetime | None = None

    @property
    def effective_scopes(self) -> frozenset[Scope]:
        """The scopes this caller holds right now, implications included."""
        return effective_scopes(self.grant, self.jwt_scopes)

    @property
    def environment(self) -> Environment:
        return self.grant.environment


@dataclass(frozen=True, slots=True)
class TokenRefusal:
    """Why a bearer token was refused, and the grant its lookup id names, if any.

    Audit records of refused requests carry the named grant and its principal: a revoked or expired
    grant's token, or a guess at a real grant's token, is attributed to that grant.
    """

    reason: str
    grant: Grant | None = None

    @property
    def principal(self) -> str | None:
        return self.grant.principal if self.grant is not None else None

    @property
    def grant_id(self) -> str | None:
        return self.grant.id if self.grant is not None else None


@dataclass(frozen=True, slots=True)
class VerifiedJwt:
    """What a verified external JWT says about its caller (see `auth.jwt.JwtVerifier`)."""

    principal: str
    subject: str
    client_id: str | None
    actor: str | None
    scopes: frozenset[Scope]
    expires_at: datetime
    issuer: str


@dataclass(frozen=True, slots=True)
class VerifiedAccess:
    """What a valid access token of the built-in authorization server stands for."""

    grant: Grant
    client_id: str
    person: str
    scopes: frozenset[Scope]
    expires_at: datetime


class OAuthAccessAuthenticator(Protocol):
    """The built-in authorization server's access tokens (see `auth.oauth.provider`)."""

    def recognises(self, token: str) -> bool:
        """Whether `token` has the form of one of its access tokens."""
        ...

    async def explain(self, token: str) -> VerifiedAccess | tuple[str, Grant | None]:
        """The caller of a valid token, or why it is refused and the grant it names (if any)."""
        ...


class JwtAuthenticator(Protocol):
    """Verifies an external access token; None for anything it does not accept."""

    async def verify(self, token: str) -> VerifiedJwt | None: ...

    @property
    def environment(self) -> Environment | None:
        """The environment JWT callers are bound to, if configured (picks among a principal's grants)."""
        ...


@dataclass(slots=True)
class _Entry:
    caller: Caller
    cached_at: datetime


class CallerResolver:
    """Resolves bearer tokens to callers through the grant store and an optional JWT verifier."""

    def __init__(
        self,
        grants: GrantStore,
        *,
        jwt: JwtAuthenticator | None = None,
        oauth: OAuthAccessAuthenticator | None = None,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if not 0 <= cache_seconds <= DEFAULT_CACHE_SECONDS:
            raise ValueError(f"cache_seconds must be between 0 and {DEFAULT_CACHE_SECONDS}")
        self._grants = grants
        self._jwt = jwt
        self._oauth = oauth
        self._ttl = timedelta(seconds=cache_seconds)
        self._clock = clock
        self._cache: dict[bytes, _Entry] = {}
        self._lookups: SingleFlight[bytes, Caller | None] = SingleFlight()

    async def resolve(self, token: str) -> Caller | None:
        """The caller behind `token`, or None (unknown, malformed, revoked, expired, unmapped)."""
        now = self._clock()
        key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        entry = self._cache.get(key)
        if entry is not None:
            if entry.cached_at <= now < entry.cached_at + self._ttl and _still_valid(entry.caller, now):
                return entry.caller
            del self._cache[key]
        # Every request in flight misses an entry at once when it expires: they share one lookup.
        return await self._lookups.run(key, lambda: self._resolve_and_remember(key, token, now))

    async def _resolve_and_remember(self, key: bytes, token: str, now: datetime) -> Caller | None:
        caller = await self._resolve_uncached(token, now)
        if caller is not None and self._ttl:
            self._remember(key, caller, now)
        return caller

    async def refusal(self, token: str | None) -> TokenRefusal:
        """Why `token` does not resolve to a caller (call it only after `resolve` returned None)."""
        if not token:
            return TokenRefusal("no bearer token")
        if self._oauth is not None and self._oauth.recognises(token):
            explained = await self._oauth.explain(token)
            if isinstance(explained, VerifiedAccess):
                return TokenRefusal("OAuth access token not accepted", explained.grant)
            return TokenRefusal(explained[0], explained[1])
        if tokens.looks_like_grant_token(token):
            if tokens.token_id_of(token) is None:
                return TokenRefusal("malformed grant token")
            grant, secret_matches = await self._grants.named_by(token)
            if grant is None:
                return TokenRefusal("unknown grant token")
            if not secret_matches:
                return TokenRefusal("grant token secret does not match", grant)
            state = grant.state(self._clock())
            return TokenRefusal(f"grant {state.value}", grant)
        if self._jwt is None:
            return TokenRefusal("not a grant token and no JWT issuer is configured")
        return TokenRefusal("access token rejected (JWT invalid, expired or mapped to no single grant)")

    def forget(self) -> None:
        """Drop every cached resolution (e.g. right after an administrator changed grants in-process)."""
        self._cache.clear()

    async def _resolve_uncached(self, token: str, now: datetime) -> Caller | None:
        if tokens.looks_like_grant_token(token):
            grant = await self._grants.authenticate(token)
            if grant is None:
                log.info("caller.refused", reason="unknown grant token")
                return None
            if not grant.is_live(now):
                log.info("caller.refused", reason=f"grant {grant.state(now).value}", grant_id=grant.id)
                return None
            return Caller(
                principal=grant.principal, grant=grant, token_kind="grant", expires_at=grant.expires_at
            )
        if self._oauth is not None and self._oauth.recognises(token):
            return await self._caller_for_oauth(token)
        if self._jwt is None:
            log.info("caller.refused", reason="not a grant token and no JWT issuer configured")
            return None
        verified = await self._jwt.verify(token)
        if verified is None:
            return None
        return await self._caller_for_jwt(verified)

    async def _caller_for_oauth(self, token: str) -> Caller | None:
        assert self._oauth is not None
        explained = await self._oauth.explain(token)
        if not isinstance(explained, VerifiedAccess):
            reason, grant = explained
            log.info("caller.refused", reason=reason, grant_id=grant.id if grant else None)
            return None
        return Caller(
            principal=explained.grant.principal,
            grant=explained.grant,
            token_kind="oauth",
            subject=explained.person,
            client_id=explained.client_id,
            jwt_scopes=explained.scopes,
            expires_at=explained.expires_at,
        )

    async def _caller_for_jwt(self, verified: VerifiedJwt) -> Caller | None:
        assert self._jwt is not None
        candidates = await self._grants.live_for_principal(
            verified.principal, environment=self._jwt.environment
        )
        if len(candidates) != 1:
            # None: nobody granted this principal anything. Several: ambiguous, and doubt means deny.
            log.info(
                "caller.refused", reason="jwt principal maps to no single live grant", grants=len(candidates)
            )
            return None
        grant = candidates[0]
        expires = (
            verified.expires_at if grant.expires_at is None else min(verified.expires_at, grant.expires_at)
        )
        return Caller(
            principal=grant.principal,
            grant=grant,
            token_kind="jwt",
            subject=verified.subject,
            client_id=verified.client_id,
            actor=verified.actor,
            jwt_scopes=verified.scopes,
            expires_at=expires,
        )

    def _remember(self, key: bytes, caller: Caller, now: datetime) -> None:
        if len(self._cache) >= _CACHE_MAX_ENTRIES:
            stale = [k for k, e in self._cache.items() if not e.cached_at <= now < e.cached_at + self._ttl]
            for k in stale:
                del self._cache[k]
            if len(self._cache) >= _CACHE_MAX_ENTRIES:
                self._cache.clear()
        self._cache[key] = _Entry(caller=caller, cached_at=now)


def _still_valid(caller: Caller, now: datetime) -> bool:
    if not caller.grant.is_live(now):
        return False
    return caller.expires_at is None or now < caller.expires_at
