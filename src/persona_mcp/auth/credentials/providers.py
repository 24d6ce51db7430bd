"""`CredentialProvider`s for stored credentials: OAuth clients that refresh, and fixed access tokens.

An OAuth provider renews its token ahead of expiry and once after a 401. Renewal is single-flight:
within a process an `anyio.Lock` per credential plus a re-check after acquiring it; across processes
the store's row lock (PostgreSQL `FOR UPDATE`) plus a re-read of what another replica may have stored.
A rejected grant or client disables the credential (audited) and every later call fails fast: the agent
is told only that an administrator must reconnect it; the log carries the command that does.
No path retries on its own: one token request per renewal, at most.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import anyio
import structlog
from pydantic import SecretStr

from persona_mcp.auth.credentials.errors import CredentialUnavailableError
from persona_mcp.auth.credentials.models import (
    CredentialInfo,
    CredentialKind,
    CredentialStatus,
    StoredCredential,
)
from persona_mcp.auth.credentials.oauth import IssuedToken, TokenEndpointClient, TokenEndpointError
from persona_mcp.auth.credentials.secretbox import SecretBoxError
from persona_mcp.auth.credentials.store import CredentialStore, LockedCredential

_log = structlog.get_logger(__name__)

#: Who the audit log names when the server itself disables a credential.
SYSTEM_ACTOR = "persona-mcp"
#: How long before a non-refreshable access token expires the server starts warning the admin.
EXPIRY_WARNING = timedelta(minutes=10)


def reconnect_command(info: CredentialInfo) -> str:
    """The CLI command that replaces `info` with a working credential."""
    target = f"--env {info.environment.value}" + (f" --principal {info.principal}" if info.principal else "")
    if info.kind is CredentialKind.API_KEY:
        return f"persona-mcp credentials add {target} --api-key-stdin"
    if info.kind is CredentialKind.ACCESS_TOKEN:
        return f"persona-mcp credentials add {target} --access-token-stdin --expires-in 3600"
    source = "--private-key-file F" if info.auth_method == "private_key_jwt" else "--client-secret-stdin"
    return (
        f"persona-mcp credentials add {target} --oauth --token-url {info.token_url} "
        f"--client-id {info.client_id} {source}"
    )


def disabled_error(info: CredentialInfo) -> CredentialUnavailableError:
    reason = info.disabled_reason or "it was disabled"
    return unavailable(info, f"{info.label} was disabled after {reason}; run `{reconnect_command(info)}`")


def unavailable(
    info: CredentialInfo, admin_detail: str, *, permanent: bool = True
) -> CredentialUnavailableError:
    """The error for the agent (fixed text), with the detail logged for the administrator.

    The detail (cause, reconnect command with token URL and client id) goes to the log, where the
    server's operator and the `credentials test` command's user see it, never into the tool result.
    """
    _log.warning("credential.unavailable", credential_id=info.id, permanent=permanent, detail=admin_detail)
    environment = info.environment.value
    if permanent:
        return CredentialUnavailableError.needs_admin(environment, admin_detail)
    return CredentialUnavailableError.try_later(environment, admin_detail)


class AccessTokenCredential:
    """A Persona authorization-code access token: usable until it expires, never refreshable."""

    def __init__(self, info: CredentialInfo, token: SecretStr, *, clock: Callable[[], datetime]) -> None:
        self._info = info
        self._token = token
        self._clock = clock
        self._warned = False

    def __repr__(self) -> str:
        return f"AccessTokenCredential(id={self._info.id!r}, token=<hidden>)"

    async def bearer_token(self) -> str:
        expires_at = self._info.access_expires_at
        now = self._clock()
        if expires_at is not None and not self._warned and now >= expires_at - EXPIRY_WARNING:
            self._warned = True
            _log.warning(
                "credential.access_token_expiring",
                credential_id=self._info.id,
                expires_at=expires_at.isoformat(),
                fix=reconnect_command(self._info),
            )
        if expires_at is not None and now >= expires_at:
            raise unavailable(
                self._info,
                f"{self._info.label} expired at {expires_at.isoformat()}; authorization-code access tokens "
                "cannot be refreshed: have the granting organization authorize again, then run "
                f"`{reconnect_command(self._info)}`",
            )
        return self._token.get_secret_value()

    async def on_unauthorized(self, rejected_token: str) -> bool:
        return False


class OAuthCredential:
    """An OAuth client credential whose tokens are shared through the store."""

    def __init__(
        self,
        info: CredentialInfo,
        store: CredentialStore,
        endpoint: TokenEndpointClient,
        *,
        refresh_window: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self._info = info
        self._store = store
        self._endpoint = endpoint
        self._window = refresh_window
        self._clock = clock
        self._lock = anyio.Lock()
        self._token: SecretStr | None = None
        self._expires_at: datetime | None = None
        self._refresh_due_at: datetime | None = None
        self._dead: CredentialUnavailableError | None = None
        self._renewed_after_401: str | None = None

    def __repr__(self) -> str:
        return f"OAuthCredential(id={self._info.id!r}, token=<hidden>)"

    @property
    def credential_id(self) -> str:
        return self._info.id

    async def bearer_token(self) -> str:
        token = self._usable_token()
        if token is not None:
            return token
        async with self._lock:
            token = self._usable_token()
            if token is not None:
                return token
            try:
                return await self._renew(rejected=None)
            except SecretBoxError as exc:
                # The secret key does not open the stored row: configuration, retrying cannot help.
                raise unavailable(self._info, f"{self._info.label} cannot be decrypted: {exc}") from None

    async def on_unauthorized(self, rejected_token: str) -> bool:
        """Renew once for a rejected token; a token obtained that way being rejected again ends it."""
        if self._dead is not None:
            return False
        async with self._lock:
            current = self._token.get_secret_value() if self._token is not None else None
            if current is not None and current != rejected_token:
                return True  # another caller already renewed; retry with the new token
            if rejected_token == self._renewed_after_401:
                return False
            try:
                token = await self._renew(rejected=rejected_token)
            except CredentialUnavailableError:
                return False
            self._renewed_after_401 = token
            return True

    def _usable_token(self) -> str | None:
        if self._dead is not None:
            raise self._dead
        if self._token is None:
            return None
        if self._refresh_due_at is not None and self._clock() >= self._refresh_due_at:
            return None
        return self._token.get_secret_value()

    async def _renew(self, *, rejected: str | None) -> str:
        """Adopt a token another process stored, or obtain and store a new one (holding the row lock)."""
        disabled: CredentialInfo | None = None
        reason = ""
        async with self._store.locked(self._info.id) as locked:
            current = locked.current
            if current.info.status is CredentialStatus.DISABLED:
                self._dead = disabled_error(current.info)
                raise self._dead
            if self._is_fresh(current, rejected):
                return self._adopt(current)
            try:
                issued = await self._request(current)
            except TokenEndpointError as exc:
                if not exc.permanent:
                    _log.warning(
                        "credential.refresh_failed",
                        credential_id=self._info.id,
                        error=exc.error,
                        status=exc.status,
                    )
                    raise unavailable(
                        current.info,
                        f"{current.info.label} could not be renewed: the token endpoint failed "
                        f"({exc.error}); try again shortly",
                        permanent=False,
                    ) from None
                rereadable = await self._store.load(self._info.id)
                if (
                    rereadable is not None
                    and rereadable.info.version != current.info.version
                    and self._is_fresh(rereadable, rejected)
                ):
                    return self._adopt(rereadable)  # another replica rotated it first
                reason = _rejection_reason(current, exc.error)
                if await locked.disable(reason=reason, at=self._clock()):
                    disabled = current.info
                else:
                    raise unavailable(
                        current.info,
                        f"{current.info.label} changed while it was being renewed; try again",
                        permanent=False,
                    ) from None
            else:
                return await self._store_issued(locked, current, issued)
        assert disabled is not None
        _log.error(
            "credential.disabled", credential_id=disabled.id, reason=reason, fix=reconnect_command(disabled)
        )
        await self._store.report_disabled(disabled, reason=reason, actor=SYSTEM_ACTOR)
        info = await self._store.get(disabled.id)
        self._dead = disabled_error(info if info is not None else disabled)
        self._token = None
        raise self._dead

    async def _request(self, current: StoredCredential) -> IssuedToken:
        if current.refresh_token is not None:
            return await self._endpoint.refresh(current, current.refresh_token)
        return await self._endpoint.client_credentials(current)

    async def _store_issued(
        self, locked: LockedCredential, current: StoredCredential, issued: IssuedToken
    ) -> str:
        now = self._clock()
        saved = await locked.save_tokens(
            access_token=issued.access_token,
            expires_at=issued.expires_at,
            refresh_token=issued.refresh_token,
            refreshed_at=now,
        )
        if not saved:
            # Only possible without a row lock (SQLite shared by several processes): keep using the
            # token we were given, and let the next renewal read whatever the other writer stored.
            _log.warning("credential.refresh_not_stored", credential_id=self._info.id)
        _log.info(
            "credential.refreshed",
            credential_id=self._info.id,
            grant="refresh_token" if current.refresh_token is not None else "client_credentials",
            rotated=current.refresh_token is not None and issued.refresh_token != current.refresh_token,
        )
        self._set(issued.access_token, issued.expires_at, now)
        return issued.access_token.get_secret_value()

    def _is_fresh(self, stored: StoredCredential, rejected: str | None) -> bool:
        token = stored.access_token
        if token is None or token.get_secret_value() == rejected:
            return False
        due = self._due_at(stored.info.access_expires_at, stored.info.last_refreshed_at)
        return due is None or self._clock() < due

    def _adopt(self, stored: StoredCredential) -> str:
        assert stored.access_token is not None
        self._set(stored.access_token, stored.info.access_expires_at, stored.info.last_refreshed_at)
        return stored.access_token.get_secret_value()

    def _set(self, token: SecretStr, expires_at: datetime | None, issued_at: datetime | None) -> None:
        self._token = token
        self._expires_at = expires_at
        self._refresh_due_at = self._due_at(expires_at, issued_at)

    def _due_at(self, expires_at: datetime | None, issued_at: datetime | None) -> datetime | None:
        """When to renew: `window` before expiry, or halfway through a lifetime shorter than twice that."""
        if expires_at is None:
            return None
        window = self._window
        if issued_at is not None and issued_at < expires_at:
            window = min(window, (expires_at - issued_at) / 2)
        return expires_at - window


def _rejection_reason(current: StoredCredential, error: str) -> str:
    if current.refresh_token is not None and error == "invalid_grant":
        return "its refresh token was rejected (invalid_grant)"
    return f"the token endpoint rejected its client credentials ({error})"
