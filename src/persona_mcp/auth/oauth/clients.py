"""Registered OAuth clients: RFC 7591 registrations kept in the store, listed and revoked by admins.

Redirect URIs are compared exactly, with the one exception RFC 8252 section 7.3 makes for native apps:
a loopback IP literal (`http://127.0.0.1`, `http://[::1]`) matches whatever port the client listens on
today, because the operating system picks it. Registration accepts https URIs, loopback http URIs and
private-use schemes (`cursor://...`); plain http to any other host could hand a code to the network.

A confidential client's secret is sealed with the server's secret key (AES-GCM, bound to the client id):
the SDK's client authentication compares the secret in clear, so a digest would not do.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import structlog
from mcp.server.auth.provider import RegistrationError, RegistrationErrorCode
from mcp.shared.auth import InvalidRedirectUriError, OAuthClientInformationFull
from pydantic import AnyUrl
from sqlalchemy import func, insert, select, update

from persona_mcp.auth.credentials.secretbox import SecretBox, associated_data
from persona_mcp.auth.events import AdminEventSink
from persona_mcp.auth.grants import UnauditedChangeError, utcnow
from persona_mcp.store import Store
from persona_mcp.store.schema.oauth import oauth_clients, oauth_tokens

log = structlog.get_logger(__name__)

_NAME_MAX = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Schemes a browser or the system handles itself: never a native app's private-use redirect.
_NOT_PRIVATE_USE = frozenset(
    {"javascript", "data", "file", "vbscript", "about", "blob", "ftp", "ws", "wss", "mailto", "tel", "sms"}
)


class ClientNotFoundError(LookupError):
    pass


def _loopback_literal(host: str | None) -> bool:
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redirect_uri_problem(uri: str) -> str | None:
    """Why `uri` may not be registered as a redirect URI, or None."""
    parts = urlsplit(uri)
    if parts.fragment:
        return f"redirect URI {uri!r} must not have a fragment"
    scheme = parts.scheme.lower()
    if scheme == "https":
        return None if parts.hostname else f"redirect URI {uri!r} has no host"
    if scheme == "http":
        if _loopback_literal(parts.hostname) or parts.hostname == "localhost":
            return None
        return f"redirect URI {uri!r}: plain http is accepted for loopback addresses only"
    if scheme in _NOT_PRIVATE_USE:
        return f"redirect URI {uri!r} uses a scheme that is not a native app's"
    return None  # a private-use scheme of a native app (RFC 8252 section 7.1): cursor://, vscode://


def same_redirect(registered: str, presented: str) -> bool:
    """Exact match, except that a loopback IP literal's port may differ (RFC 8252 section 7.3)."""
    if registered == presented:
        return True
    a, b = urlsplit(registered), urlsplit(presented)
    if a.scheme != "http" or b.scheme != "http" or not _loopback_literal(a.hostname):
        return False
    return (a.hostname, a.path, a.query, a.fragment) == (b.hostname, b.path, b.query, b.fragment)


def registration_problem(
    client: OAuthClientInformationFull,
) -> tuple[RegistrationErrorCode, str] | None:
    """Why a registration is refused (RFC 7591 error code and description), or None."""
    for uri in client.redirect_uris or ():
        problem = redirect_uri_problem(str(uri))
        if problem:
            return "invalid_redirect_uri", problem
    name = client.client_name
    if name is not None and (len(name) > _NAME_MAX or _CONTROL.search(name)):
        return "invalid_client_metadata", f"client_name must be at most {_NAME_MAX} printable characters"
    return None


class RegisteredClient(OAuthClientInformationFull):
    """A stored client, with the RFC 8252 loopback rule for redirect URIs."""

    def validate_redirect_uri(self, redirect_uri: AnyUrl | None) -> AnyUrl:
        if redirect_uri is None:
            return super().validate_redirect_uri(None)
        presented = str(redirect_uri)
        if any(same_redirect(str(uri), presented) for uri in self.redirect_uris or ()):
            return redirect_uri
        raise InvalidRedirectUriError(f"Redirect URI '{presented}' not registered for client")


@dataclass(frozen=True, slots=True)
class ClientSummary:
    """What `persona-mcp clients list` shows about one client."""

    client_id: str
    client_name: str | None
    redirect_uris: list[str]
    auth_method: str
    created_at: datetime
    revoked_at: datetime | None
    live_tokens: int


def _aad(client_id: str) -> bytes:
    return associated_data("oauth_client", client_id, "client_secret")


class ClientStore:
    """Registered clients in the shared database; registration and revocation are audited first."""

    def __init__(
        self,
        store: Store,
        events: AdminEventSink,
        *,
        box: SecretBox | None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._events = events
        self._box = box
        self._clock = clock

    async def get(self, client_id: str) -> RegisteredClient | None:
        """A live (unrevoked) client, its secret opened; None for unknown or revoked ones."""
        async with self._store.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(oauth_clients).where(
                        oauth_clients.c.client_id == client_id, oauth_clients.c.revoked_at.is_(None)
                    )
                )
            ).first()
        if row is None:
            return None
        data: dict[str, Any] = dict(row.client_metadata)
        if row.secret is not None:
            if self._box is None:
                return None
            data["client_secret"] = self._box.open(row.secret_key_id, row.secret, _aad(client_id))
        return RegisteredClient.model_validate(data)

    async def is_live(self, client_id: str) -> bool:
        async with self._store.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(oauth_clients.c.revoked_at).where(oauth_clients.c.client_id == client_id)
                )
            ).first()
        return row is not None and row.revoked_at is None

    async def known(self, client_id: str) -> bool:
        """Whether a client was ever registered under this id (revoked or not)."""
        async with self._store.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(oauth_clients.c.client_id).where(oauth_clients.c.client_id == client_id)
                )
            ).first()
        return row is not None

    async def register(self, client: OAuthClientInformationFull) -> None:
        """Check and store a registration (the SDK minted the id and secret)."""
        problem = registration_problem(client)
        if problem is not None:
            raise RegistrationError(*problem)
        name = client.client_name
        sealed: bytes | None = None
        key_id: str | None = None
        if client.client_secret is not None:
            if self._box is None:
                raise RegistrationError(
                    "invalid_client_metadata",
                    "confidential clients are not available; register with "
                    "token_endpoint_auth_method 'none' (PKCE)",
                )
            sealed = self._box.seal(client.client_secret, _aad(client.client_id or ""))
            key_id = self._box.current_key_id
        assert client.client_id is not None
        stored = client.model_dump(mode="json", exclude={"client_secret"}, exclude_none=True)
        now = self._clock()
        details = {
            "client_id": client.client_id,
            "client_name": name,
            "redirect_uris": [str(uri) for uri in client.redirect_uris or ()],
            "auth_method": client.token_endpoint_auth_method,
            "scope": client.scope,
        }
        await self._record("oauth.client_registered", "registration", client.client_id, details)
        async with self._store.engine.begin() as conn:
            await conn.execute(
                insert(oauth_clients).values(
                    client_id=client.client_id,
                    client_name=name,
                    client_metadata=stored,
                    secret_key_id=key_id,
                    secret=sealed,
                    created_at=now,
                )
            )
        log.info("oauth.client_registered", client_id=client.client_id)

    async def list_all(self) -> list[ClientSummary]:
        now = self._clock()
        live = (
            select(oauth_tokens.c.client_id, func.count().label("n"))
            .where(oauth_tokens.c.revoked_at.is_(None), oauth_tokens.c.expires_at > now)
            .group_by(oauth_tokens.c.client_id)
            .subquery()
        )
        query = (
            select(oauth_clients, live.c.n)
            .outerjoin(live, live.c.client_id == oauth_clients.c.client_id)
            .order_by(oauth_clients.c.created_at, oauth_clients.c.client_id)
        )
        async with self._store.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            ClientSummary(
                client_id=row.client_id,
                client_name=row.client_name,
                redirect_uris=list(row.client_metadata.get("redirect_uris") or []),
                auth_method=str(row.client_metadata.get("token_endpoint_auth_method") or "none"),
                created_at=row.created_at,
                revoked_at=row.revoked_at,
                live_tokens=int(row.n or 0),
            )
            for row in rows
        ]

    async def revoke(self, client_id: str, *, actor: str) -> None:
        """Revoke a client and every token it holds: its next call is refused."""
        async with self._store.engine.connect() as conn:
            row = (
                await conn.execute(select(oauth_clients).where(oauth_clients.c.client_id == client_id))
            ).first()
        if row is None:
            raise ClientNotFoundError(f"no OAuth client with id {client_id!r}")
        if row.revoked_at is not None:
            raise ClientNotFoundError(f"OAuth client {client_id} is already revoked")
        now = self._clock()
        await self._record("oauth.client_revoked", actor, client_id, {"client_name": row.client_name})
        async with self._store.engine.begin() as conn:
            await conn.execute(
                update(oauth_clients).where(oauth_clients.c.client_id == client_id).values(revoked_at=now)
            )
            await conn.execute(
                update(oauth_tokens)
                .where(oauth_tokens.c.client_id == client_id, oauth_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        log.info("oauth.client_revoked", client_id=client_id)

    async def _record(self, action: str, actor: str, target: str, details: dict[str, Any]) -> None:
        await record_event(self._events, action, actor=actor, target=target, details=details)


async def record_event(
    events: AdminEventSink, action: str, *, actor: str, target: str, details: dict[str, Any]
) -> None:
    """Report an authorization-server event to the audit log; refuse the change if it is not recorded."""
    try:
        await events.admin_event(action=action, actor=actor, target=target, details=details)
    except Exception as exc:
        log.error("oauth.event_unrecorded", action=action, error=type(exc).__name__)
        raise UnauditedChangeError(
            f"{action} for {target} was not made: the audit log did not record it ({type(exc).__name__})"
        ) from exc
