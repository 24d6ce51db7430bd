"""Consent bound to a grant: what a client may be given, and the pending requests the consent page serves.

The scopes a client obtains are the intersection of three sets: what it requested, what the signed-in
person's grant holds (implications included), and what the person left ticked on the page. Personal
data (`pii:read`), lifecycle-ending (`*:delete`), decision (`inquiries:decide`) and cross-environment
audit scopes are offered unticked: they are only given when the person ticks them explicitly.

A pending request is the state between the SDK's authorize endpoint and the consent page's answer. Its
handle travels in the consent page's URL (it lets nobody do anything without a grant token) and only its
digest is stored; the page's CSRF token is stored the same way and also set as a strict, HttpOnly cookie.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update

from persona_mcp.auth.grant import Grant
from persona_mcp.auth.grants import utcnow
from persona_mcp.auth.oauth import secrets
from persona_mcp.auth.scopes import Scope, expand
from persona_mcp.store import Store
from persona_mcp.store.schema.oauth import oauth_authorizations

#: Scopes a person must tick explicitly: personal data, destructive and decision scopes, wider audit.
NEEDS_TICK: frozenset[Scope] = frozenset(
    {
        Scope.PII_READ,
        Scope.ACCOUNTS_DELETE,
        Scope.INQUIRIES_DELETE,
        Scope.LISTS_DELETE,
        Scope.WEBHOOKS_DELETE,
        Scope.INQUIRIES_DECIDE,
        Scope.AUDIT_ALL_ENVIRONMENTS,
    }
)

_KNOWN = {scope.value: scope for scope in Scope}


@dataclass(frozen=True, slots=True)
class ConsentOffer:
    """What the page offers: scopes the grant allows (ticked or not by default), and those it cannot."""

    offered: tuple[Scope, ...]
    withheld: tuple[str, ...]

    def preticked(self, scope: Scope) -> bool:
        return scope not in NEEDS_TICK

    def granted(self, ticked: Iterable[str]) -> frozenset[Scope]:
        """The offered scopes the person ticked (nothing outside the offer, whatever the form says)."""
        chosen = set(ticked)
        return frozenset(scope for scope in self.offered if scope.value in chosen)


def offer_for(requested: list[str] | None, grant: Grant) -> ConsentOffer:
    """The offer for a request (None: everything the grant holds) under `grant`."""
    held = expand(grant.scopes)
    names = list(dict.fromkeys(requested)) if requested is not None else sorted(s.value for s in grant.scopes)
    offered = tuple(_KNOWN[name] for name in names if name in _KNOWN and _KNOWN[name] in held)
    withheld = tuple(name for name in names if name not in _KNOWN or _KNOWN[name] not in held)
    return ConsentOffer(offered=offered, withheld=withheld)


@dataclass(frozen=True, slots=True)
class PendingAuthorization:
    """An authorization request waiting for the person's answer."""

    handle_digest: bytes
    client_id: str
    params: dict[str, Any]
    csrf_digest: bytes
    grant_id: str | None
    expires_at: datetime
    upstream_state_digest: bytes | None = None

    def upstream_state_matches(self, state: str | None) -> bool:
        expected = self.upstream_state_digest
        return (
            state is not None
            and expected is not None
            and hmac.compare_digest(secrets.digest(state), expected)
        )

    @property
    def requested_scopes(self) -> list[str] | None:
        scopes = self.params.get("scopes")
        return list(scopes) if scopes is not None else None

    @property
    def redirect_uri(self) -> str:
        return str(self.params["redirect_uri"])

    @property
    def state(self) -> str | None:
        state = self.params.get("state")
        return str(state) if state is not None else None

    def csrf_matches(self, csrf: str | None) -> bool:
        return csrf is not None and hmac.compare_digest(secrets.digest(csrf), self.csrf_digest)


class PendingAuthorizations:
    """Pending requests in the store, by the digest of their handle."""

    def __init__(self, store: Store, *, lifetime_seconds: float, clock: Callable[[], datetime] = utcnow):
        self._store = store
        self._lifetime = timedelta(seconds=lifetime_seconds)
        self._clock = clock

    @property
    def lifetime_seconds(self) -> int:
        """How long a person has to answer (a client's own sign-in state need not outlive it)."""
        return int(self._lifetime.total_seconds())

    async def create(self, client_id: str, params: dict[str, Any]) -> str:
        handle = secrets.mint(secrets.CONSENT_PREFIX)
        now = self._clock()
        async with self._store.engine.begin() as conn:
            await conn.execute(
                insert(oauth_authorizations).values(
                    handle_digest=secrets.digest(handle),
                    client_id=client_id,
                    params=params,
                    csrf_digest=secrets.digest(secrets.mint(secrets.CSRF_PREFIX)),
                    created_at=now,
                    expires_at=now + self._lifetime,
                )
            )
        return handle

    async def load(self, handle: str | None) -> PendingAuthorization | None:
        """The open request this handle names; None if unknown, expired or already answered."""
        if not handle or not handle.startswith(secrets.CONSENT_PREFIX):
            return None
        async with self._store.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(oauth_authorizations).where(
                        oauth_authorizations.c.handle_digest == secrets.digest(handle),
                        oauth_authorizations.c.finished_at.is_(None),
                    )
                )
            ).first()
        if row is None or row.expires_at <= self._clock():
            return None
        return PendingAuthorization(
            handle_digest=row.handle_digest,
            client_id=row.client_id,
            params=dict(row.params),
            csrf_digest=row.csrf_digest,
            grant_id=row.grant_id,
            expires_at=row.expires_at,
            upstream_state_digest=row.upstream_state_digest,
        )

    async def expect_upstream(self, pending: PendingAuthorization, state: str) -> None:
        """Remember (as a digest) the `state` of the upstream sign-in this request is waiting for."""
        async with self._store.engine.begin() as conn:
            await conn.execute(
                update(oauth_authorizations)
                .where(oauth_authorizations.c.handle_digest == pending.handle_digest)
                .values(upstream_state_digest=secrets.digest(state))
            )

    async def new_csrf(self, pending: PendingAuthorization, *, grant_id: str | None = None) -> str:
        """A fresh CSRF token for the next form of this request (the previous one stops working)."""
        csrf = secrets.mint(secrets.CSRF_PREFIX)
        values: dict[str, Any] = {"csrf_digest": secrets.digest(csrf)}
        if grant_id is not None:
            # Signed in: an upstream state still pending can no longer be used.
            values |= {"grant_id": grant_id, "upstream_state_digest": None}
        async with self._store.engine.begin() as conn:
            await conn.execute(
                update(oauth_authorizations)
                .where(oauth_authorizations.c.handle_digest == pending.handle_digest)
                .values(**values)
            )
        return csrf

    async def finish(self, pending: PendingAuthorization) -> bool:
        """Close the request; False if it was answered already (a double submit)."""
        async with self._store.engine.begin() as conn:
            result = await conn.execute(
                update(oauth_authorizations)
                .where(
                    oauth_authorizations.c.handle_digest == pending.handle_digest,
                    oauth_authorizations.c.finished_at.is_(None),
                )
                .values(finished_at=self._clock())
            )
        return result.rowcount == 1
