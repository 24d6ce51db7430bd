"""The SDK's `OAuthAuthorizationServerProvider` on the project's store, every token bound to a grant.

The SDK's handlers do the protocol (parameter checks, PKCE S256, redirect URI and client checks); this
class keeps state and applies the project's rules:

- codes and tokens are stored as digests only; access tokens live `access_token_seconds` (15 minutes by
  default), never past the grant's expiry;
- a refresh token works once: using it rotates it, and presenting a used one again (a replay: someone
  holds a copy) revokes the whole family, the access tokens issued from it included; a replayed code does
  the same to the tokens issued from that code;
- the only audience is this server's `/mcp` URL (RFC 8707): an authorization request naming another
  resource is refused, and a stored token whose audience is not the URL served now is not accepted;
- revoking the grant or the client stops its tokens at the next resolution;
- registration, consent, token issue, refresh, replay detection and revocation are audit records,
  written before the change (a change the audit log did not take is not made).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import structlog
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    AuthorizeError,
    IdentityAssertionParams,
    RefreshToken,
    TokenError,
)
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from sqlalchemy import Row, and_, delete, insert, or_, select, update

from persona_mcp.auth.callers import VerifiedAccess
from persona_mcp.auth.events import AdminEventSink
from persona_mcp.auth.grant import Grant
from persona_mcp.auth.grants import GrantStore, utcnow
from persona_mcp.auth.oauth import secrets
from persona_mcp.auth.oauth.clients import ClientStore, RegisteredClient, record_event
from persona_mcp.auth.oauth.consent import PendingAuthorizations
from persona_mcp.auth.scopes import Scope, expand
from persona_mcp.config import AuthorizationServerSettings
from persona_mcp.store import Store
from persona_mcp.store.schema.oauth import oauth_authorizations, oauth_codes, oauth_tokens

log = structlog.get_logger(__name__)

_KNOWN = {scope.value: scope for scope in Scope}

#: How long expired codes and tokens are kept before `sweep` deletes them.
_KEEP_EXPIRED = timedelta(days=1)

#: Where the consent page is served (`persona_mcp.server.consent`), under the issuer.
CONSENT_PATH = "/oauth/consent"


def issuer_for(resource: str) -> str:
    """The built-in authorization server's issuer: the origin of the resource URL, with a root path."""
    parts = urlsplit(resource)
    return f"{parts.scheme}://{parts.netloc}/"


class GrantAuthorizationCode(AuthorizationCode):
    family_id: str
    grant_id: str


class GrantRefreshToken(RefreshToken):
    family_id: str
    grant_id: str


class GrantAccessToken(AccessToken):
    family_id: str
    grant_id: str


def same_resource(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


class GrantBoundAuthorizationServer:
    """Implements `mcp.server.auth.provider.OAuthAuthorizationServerProvider` (and the SDK's
    `TokenVerifier`-side lookups the caller resolver uses)."""

    def __init__(
        self,
        store: Store,
        *,
        events: AdminEventSink,
        grants: GrantStore,
        clients: ClientStore,
        resource: str,
        consent_url: str,
        lifetimes: AuthorizationServerSettings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self.events = events
        self._grants = grants
        self.clients = clients
        self.resource = resource
        self._consent_url = consent_url
        self._lifetimes = lifetimes
        self._clock = clock
        self.pending = PendingAuthorizations(store, lifetime_seconds=lifetimes.consent_seconds, clock=clock)
        #: Called after a token family is revoked here (RFC 7009, a replay): the caller resolver drops its
        #: cached resolutions, so the revoked access token is refused on this process's very next call.
        self.on_family_revoked: Callable[[], None] | None = None

    # -- clients --------------------------------------------------------------------------------------

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        return await self.clients.get(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        await self.clients.register(client_info)

    # -- authorization -----------------------------------------------------------------------------

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        """Park the request and send the person's browser to the consent page."""
        if params.resource is not None and not same_resource(params.resource, self.resource):
            raise AuthorizeError("invalid_target", f"this server issues tokens for {self.resource} only")
        assert client.client_id is not None
        await self.sweep()
        handle = await self.pending.create(
            client.client_id,
            {
                "state": params.state,
                "scopes": params.scopes,
                "code_challenge": params.code_challenge,
                "redirect_uri": str(params.redirect_uri),
                "redirect_uri_provided_explicitly": params.redirect_uri_provided_explicitly,
            },
        )
        return f"{self._consent_url}?request={quote(handle)}"

    async def issue_code(
        self, *, client_id: str, params: dict[str, Any], grant: Grant, scopes: frozenset[Scope]
    ) -> str:
        """A code for the consent a person just gave (called by the consent page)."""
        code = secrets.mint(secrets.CODE_PREFIX)
        now = self._clock()
        family = secrets.new_family_id()
        await record_event(
            self.events,
            "oauth.consent_given",
            actor=grant.principal,
            target=client_id,
            details={
                "client_id": client_id,
                "grant_id": grant.id,
                "person": grant.principal,
                "environment": grant.environment.value,
                "scopes": sorted(scope.value for scope in scopes),
                "redirect_uri": params["redirect_uri"],
                "family_id": family,
            },
        )
        async with self._store.engine.begin() as conn:
            await conn.execute(
                insert(oauth_codes).values(
                    code_digest=secrets.digest(code),
                    family_id=family,
                    client_id=client_id,
                    grant_id=grant.id,
                    person=grant.principal,
                    scopes=sorted(scope.value for scope in scopes),
                    code_challenge=params["code_challenge"],
                    redirect_uri=params["redirect_uri"],
                    redirect_uri_explicit=bool(params["redirect_uri_provided_explicitly"]),
                    resource=self.resource,
                    created_at=now,
                    expires_at=now + timedelta(seconds=self._lifetimes.code_seconds),
                )
            )
        return code

    async def record_refusal(self, *, client_id: str, grant: Grant | None, reason: str) -> None:
        await record_event(
            self.events,
            "oauth.consent_refused",
            actor=grant.principal if grant is not None else "anonymous",
            target=client_id,
            details={"client_id": client_id, "grant_id": grant.id if grant else None, "reason": reason},
        )

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> GrantAuthorizationCode | None:
        async with self._store.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(oauth_codes).where(oauth_codes.c.code_digest == secrets.digest(authorization_code))
                )
            ).first()
        if row is None or row.client_id != client.client_id:
            return None
        if row.used_at is not None:
            await self._replayed("oauth.code_replayed", row.family_id, row.client_id, row.grant_id)
            return None
        return GrantAuthorizationCode(
            code=authorization_code,
            scopes=list(row.scopes),
            expires_at=row.expires_at.timestamp(),
            client_id=row.client_id,
            code_challenge=row.code_challenge,
            redirect_uri=row.redirect_uri,
            redirect_uri_provided_explicitly=row.redirect_uri_explicit,
            resource=row.resource,
            subject=row.person,
            family_id=row.family_id,
            grant_id=row.grant_id,
        )

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: GrantAuthorizationCode
    ) -> OAuthToken:
        async with self._store.engine.begin() as conn:
            used = await conn.execute(
                update(oauth_codes)
                .where(
                    oauth_codes.c.code_digest == secrets.digest(authorization_code.code),
                    oauth_codes.c.used_at.is_(None),
                )
                .values(used_at=self._clock())
            )
        if used.rowcount != 1:
            await self._replayed(
                "oauth.code_replayed",
                authorization_code.family_id,
                authorization_code.client_id,
                authorization_code.grant_id,
            )
            raise TokenError("invalid_grant", "authorization code was already used")
        grant = await self._live_grant(authorization_code.grant_id)
        return await self._issue(
            "oauth.token_issued",
            family=authorization_code.family_id,
            client_id=authorization_code.client_id,
            grant=grant,
            person=authorization_code.subject or grant.principal,
            scopes=authorization_code.scopes,
        )

    # -- refresh -------------------------------------------------------------------------------------

    async def load_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: str
    ) -> GrantRefreshToken | None:
        row = await self._token_row(refresh_token, "refresh")
        if row is None or row.client_id != client.client_id or row.revoked_at is not None:
            return None
        if row.used_at is not None:
            await self._replayed("oauth.refresh_replayed", row.family_id, row.client_id, row.grant_id)
            return None
        return GrantRefreshToken(
            token=refresh_token,
            client_id=row.client_id,
            scopes=list(row.scopes),
            expires_at=int(row.expires_at.timestamp()),
            resource=row.resource,
            subject=row.person,
            family_id=row.family_id,
            grant_id=row.grant_id,
        )

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: GrantRefreshToken, scopes: list[str]
    ) -> OAuthToken:
        async with self._store.engine.begin() as conn:
            used = await conn.execute(
                update(oauth_tokens)
                .where(
                    oauth_tokens.c.token_digest == secrets.digest(refresh_token.token),
                    oauth_tokens.c.used_at.is_(None),
                    oauth_tokens.c.revoked_at.is_(None),
                )
                .values(used_at=self._clock())
            )
        if used.rowcount != 1:
            await self._replayed(
                "oauth.refresh_replayed",
                refresh_token.family_id,
                refresh_token.client_id,
                refresh_token.grant_id,
            )
            raise TokenError("invalid_grant", "refresh token was already used")
        grant = await self._live_grant(refresh_token.grant_id)
        return await self._issue(
            "oauth.token_refreshed",
            family=refresh_token.family_id,
            client_id=refresh_token.client_id,
            grant=grant,
            person=refresh_token.subject or grant.principal,
            scopes=scopes,
        )

    # -- access tokens and revocation ----------------------------------------------------------------

    async def load_access_token(self, token: str) -> GrantAccessToken | None:
        row = await self._token_row(token, "access")
        if row is None or row.revoked_at is not None or row.expires_at <= self._clock():
            return None
        return GrantAccessToken(
            token=token,
            client_id=row.client_id,
            scopes=list(row.scopes),
            expires_at=int(row.expires_at.timestamp()),
            resource=row.resource,
            subject=row.person,
            family_id=row.family_id,
            grant_id=row.grant_id,
        )

    async def revoke_token(self, token: GrantAccessToken | GrantRefreshToken) -> None:
        """RFC 7009: revoking either kind revokes the whole family (access and refresh tokens)."""
        await record_event(
            self.events,
            "oauth.token_revoked",
            actor=token.client_id,
            target=token.family_id,
            details={
                "client_id": token.client_id,
                "grant_id": token.grant_id,
                "family_id": token.family_id,
                "kind": "refresh" if isinstance(token, GrantRefreshToken) else "access",
            },
        )
        await self._revoke_family(token.family_id)

    async def family_live(self, family_id: str) -> bool:
        """Whether a token of the family is still usable (unrevoked, unexpired) and its client is live:
        what a sign-in resting on the family (the console's) needs on every page."""
        async with self._store.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(oauth_tokens.c.client_id)
                    .where(
                        oauth_tokens.c.family_id == family_id,
                        oauth_tokens.c.revoked_at.is_(None),
                        oauth_tokens.c.expires_at > self._clock(),
                    )
                    .limit(1)
                )
            ).first()
        return row is not None and await self.clients.is_live(row.client_id)

    async def revoke_family(self, family_id: str, *, actor: str, reason: str) -> None:
        """Revoke every token of a family on behalf of `actor` (the console's sign-out), audited first."""
        async with self._store.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(oauth_tokens.c.client_id, oauth_tokens.c.grant_id)
                    .where(oauth_tokens.c.family_id == family_id)
                    .limit(1)
                )
            ).first()
        if row is None:
            return
        await record_event(
            self.events,
            "oauth.token_revoked",
            actor=actor,
            target=family_id,
            details={
                "client_id": row.client_id,
                "grant_id": row.grant_id,
                "family_id": family_id,
                "kind": "family",
                "reason": reason,
            },
        )
        await self._revoke_family(family_id)

    def recognises(self, token: str) -> bool:
        return secrets.looks_like_access_token(token)

    async def verify_access(self, token: str) -> VerifiedAccess | None:
        """The caller behind an access token, or None (unknown, expired, revoked, wrong audience, or its
        client or grant revoked)."""
        explained = await self.explain(token)
        return explained if isinstance(explained, VerifiedAccess) else None

    async def explain(self, token: str) -> VerifiedAccess | tuple[str, Grant | None]:
        """A valid token's caller, or why it is refused and the grant it names."""
        row = await self._token_row(token, "access")
        if row is None:
            return "unknown OAuth access token", None
        grant = await self._grants.get(row.grant_id)
        now = self._clock()
        if row.revoked_at is not None:
            return "OAuth access token revoked", grant
        if row.expires_at <= now:
            return "OAuth access token expired", grant
        if not same_resource(row.resource, self.resource):
            return "OAuth access token audience is not this server", grant
        if not await self.clients.is_live(row.client_id):
            return "OAuth client revoked", grant
        if grant is None or not grant.is_live(now):
            state = grant.state(now).value if grant is not None else "missing"
            return f"grant {state}", grant
        scopes = frozenset(_KNOWN[name] for name in row.scopes if name in _KNOWN)
        expires = row.expires_at if grant.expires_at is None else min(row.expires_at, grant.expires_at)
        return VerifiedAccess(
            grant=grant, client_id=row.client_id, person=row.person, scopes=scopes, expires_at=expires
        )

    async def exchange_identity_assertion(
        self, client: OAuthClientInformationFull, params: IdentityAssertionParams
    ) -> OAuthToken:
        """SEP-990 identity assertions are not accepted: every token comes from a person's consent."""
        raise TokenError("unsupported_grant_type", "the JWT bearer grant is not supported by this server")

    async def sweep(self) -> None:
        """Delete what can no longer be used: answered or expired consent requests, codes and tokens
        expired for a day (replays of those are refused as unknown, like any expired token)."""
        now = self._clock()
        stale = now - _KEEP_EXPIRED
        async with self._store.engine.begin() as conn:
            await conn.execute(
                delete(oauth_authorizations).where(
                    or_(
                        oauth_authorizations.c.expires_at < now,
                        oauth_authorizations.c.finished_at.is_not(None),
                    )
                )
            )
            await conn.execute(delete(oauth_codes).where(oauth_codes.c.expires_at < stale))
            await conn.execute(delete(oauth_tokens).where(oauth_tokens.c.expires_at < stale))

    # -- internals -----------------------------------------------------------------------------------

    async def _token_row(self, token: str, kind: str) -> Row[Any] | None:
        async with self._store.engine.connect() as conn:
            return (
                await conn.execute(
                    select(oauth_tokens).where(
                        and_(
                            oauth_tokens.c.token_digest == secrets.digest(token), oauth_tokens.c.kind == kind
                        )
                    )
                )
            ).first()

    async def _live_grant(self, grant_id: str) -> Grant:
        grant = await self._grants.get(grant_id)
        if grant is None or not grant.is_live(self._clock()):
            raise TokenError("invalid_grant", "the grant behind this authorization is no longer live")
        return grant

    async def _issue(
        self, action: str, *, family: str, client_id: str, grant: Grant, person: str, scopes: list[str]
    ) -> OAuthToken:
        """A new access and refresh token in `family`, narrowed to the grant as it is now."""
        if not await self.clients.is_live(client_id):
            raise TokenError("invalid_grant", "the client was revoked")
        held = {scope.value for scope in expand(grant.scopes)}
        narrowed = sorted(name for name in dict.fromkeys(scopes) if name in held)
        now = self._clock()
        access_expires = now + timedelta(seconds=self._lifetimes.access_token_seconds)
        refresh_expires = now + timedelta(seconds=self._lifetimes.refresh_token_seconds)
        if grant.expires_at is not None:
            access_expires = min(access_expires, grant.expires_at)
            refresh_expires = min(refresh_expires, grant.expires_at)
        access = secrets.mint(secrets.ACCESS_PREFIX)
        refresh = secrets.mint(secrets.REFRESH_PREFIX)
        await record_event(
            self.events,
            action,
            actor=person,
            target=family,
            details={
                "client_id": client_id,
                "grant_id": grant.id,
                "person": person,
                "family_id": family,
                "scopes": narrowed,
                "access_expires_at": access_expires.isoformat(),
                "refresh_expires_at": refresh_expires.isoformat(),
            },
        )
        common = {
            "family_id": family,
            "client_id": client_id,
            "grant_id": grant.id,
            "person": person,
            "scopes": narrowed,
            "resource": self.resource,
            "created_at": now,
        }
        async with self._store.engine.begin() as conn:
            await conn.execute(
                insert(oauth_tokens),
                [
                    common
                    | {
                        "token_digest": secrets.digest(access),
                        "kind": "access",
                        "expires_at": access_expires,
                    },
                    common
                    | {
                        "token_digest": secrets.digest(refresh),
                        "kind": "refresh",
                        "expires_at": refresh_expires,
                    },
                ],
            )
        log.info("oauth.token_issued", client_id=client_id, grant_id=grant.id, family_id=family)
        return OAuthToken(
            access_token=access,
            token_type="Bearer",
            expires_in=max(1, int((access_expires - now).total_seconds())),
            scope=" ".join(narrowed),
            refresh_token=refresh,
        )

    async def _replayed(self, action: str, family: str, client_id: str, grant_id: str) -> None:
        """A code or refresh token presented twice: someone else holds a copy, so the family dies."""
        log.warning(action, client_id=client_id, grant_id=grant_id, family_id=family)
        await record_event(
            self.events,
            action,
            actor=client_id,
            target=family,
            details={
                "client_id": client_id,
                "grant_id": grant_id,
                "family_id": family,
                "family_revoked": True,
            },
        )
        await self._revoke_family(family)

    async def _revoke_family(self, family: str) -> None:
        now = self._clock()
        async with self._store.engine.begin() as conn:
            await conn.execute(
                update(oauth_tokens)
                .where(oauth_tokens.c.family_id == family, oauth_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        if self.on_family_revoked is not None:
            self.on_family_revoked()


__all__ = ["GrantBoundAuthorizationServer", "RegisteredClient", "VerifiedAccess"]
