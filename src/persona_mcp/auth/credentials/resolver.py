"""Which upstream credential a call uses: the caller's own, else its environment's, else PERSONA_API_KEY.

The environment is always the one named by the caller's grant, and rows are looked up by that
environment only, so a sandbox grant can never obtain a production credential. The zero-configuration
path (`PERSONA_API_KEY`) applies only when no stored credential applies and `PERSONA_MCP_ENVIRONMENT`
names the same environment as the grant.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import anyio
import httpx2

from persona_mcp.auth.credentials.errors import CredentialUnavailableError
from persona_mcp.auth.credentials.models import CredentialInfo, CredentialKind, CredentialStatus
from persona_mcp.auth.credentials.oauth import TokenEndpointClient
from persona_mcp.auth.credentials.providers import (
    AccessTokenCredential,
    OAuthCredential,
    disabled_error,
    unavailable,
)
from persona_mcp.auth.credentials.secretbox import SecretBox, SecretBoxError, load_secret_box
from persona_mcp.auth.credentials.store import CredentialStore, stored_key_ids
from persona_mcp.auth.environment import Environment
from persona_mcp.auth.events import AdminEventSink
from persona_mcp.config import DEFAULT_REFRESH_WINDOW_SECONDS, Settings
from persona_mcp.persona.credentials import ApiKeyCredential, CredentialProvider
from persona_mcp.single_flight import SingleFlight
from persona_mcp.store import Store

#: Longest time a (environment, principal) -> credential lookup is reused.
DEFAULT_LOOKUP_CACHE_SECONDS = 2.0
_LOOKUP_CACHE_MAX = 4096


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CredentialResolver:
    """Hands the Persona client a `CredentialProvider` for (environment, principal).

    Providers are kept per credential id, so every call for one credential shares its token cache
    and its renewal lock. Which row applies to (environment, principal) is remembered for at most
    `lookup_cache_seconds` (default 2 s, the grants' freshness bound): a credential added, replaced or
    disabled by another process takes effect within that time, and a call does not pay a database
    round trip for a lookup whose answer has not changed.
    """

    def __init__(
        self,
        store: Store,
        box: SecretBox,
        *,
        settings: Settings,
        events: AdminEventSink,
        http_transport: httpx2.AsyncBaseTransport | None = None,
        refresh_window_seconds: float = DEFAULT_REFRESH_WINDOW_SECONDS,
        clock: Callable[[], datetime] = _utcnow,
        lookup_cache_seconds: float = DEFAULT_LOOKUP_CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= lookup_cache_seconds <= DEFAULT_LOOKUP_CACHE_SECONDS:
            raise ValueError(f"lookup_cache_seconds must be between 0 and {DEFAULT_LOOKUP_CACHE_SECONDS}")
        self._lookup_ttl = lookup_cache_seconds
        self._monotonic = monotonic
        self._lookups: dict[tuple[Environment, str | None], tuple[float, CredentialInfo | None]] = {}
        self._reads: SingleFlight[tuple[Environment, str | None], CredentialInfo | None] = SingleFlight()
        self._credentials = CredentialStore(store, box, events=events, clock=clock)
        self._settings = settings
        self._clock = clock
        self._window = timedelta(seconds=refresh_window_seconds)
        self._endpoint = TokenEndpointClient(
            transport=http_transport, timeout_seconds=settings.persona.timeout_seconds, clock=clock
        )
        self._providers: dict[tuple[str, int], CredentialProvider] = {}
        self._oauth: dict[str, OAuthCredential] = {}

    @property
    def credentials(self) -> CredentialStore:
        return self._credentials

    async def provider_for(self, environment: Environment, principal: str) -> CredentialProvider:
        environment = Environment(environment)
        info = await self._find(environment, principal or None)
        if info is None:
            return self._fallback(environment)
        if info.status is CredentialStatus.DISABLED:
            raise disabled_error(info)
        if info.kind is CredentialKind.OAUTH_CLIENT:
            return self._oauth_provider(info)
        try:
            return await self._static_provider(info)
        except SecretBoxError as exc:
            # The secret key does not open the stored row: configuration, retrying cannot help.
            raise unavailable(info, f"{info.label} cannot be decrypted: {exc}") from None

    async def _find(self, environment: Environment, principal: str | None) -> CredentialInfo | None:
        key = (environment, principal)
        now = self._monotonic()
        cached = self._lookups.get(key)
        if cached is not None and now < cached[0]:
            return cached[1]
        # Every call in flight misses the entry at once when it expires: they share one read.
        return await self._reads.run(key, lambda: self._read_and_remember(key, now))

    async def _read_and_remember(
        self, key: tuple[Environment, str | None], now: float
    ) -> CredentialInfo | None:
        info = await self._credentials.find(*key)
        if self._lookup_ttl > 0:
            if len(self._lookups) >= _LOOKUP_CACHE_MAX:
                self._lookups.clear()
            self._lookups[key] = (now + self._lookup_ttl, info)
        return info

    def forget(self) -> None:
        """Drop remembered lookups (after a local add, remove or disable)."""
        self._lookups.clear()

    def _oauth_provider(self, info: CredentialInfo) -> OAuthCredential:
        provider = self._oauth.get(info.id)
        if provider is None:
            provider = OAuthCredential(
                info, self._credentials, self._endpoint, refresh_window=self._window, clock=self._clock
            )
            self._oauth[info.id] = provider
        return provider

    async def _static_provider(self, info: CredentialInfo) -> CredentialProvider:
        cached = self._providers.get((info.id, info.version))
        if cached is not None:
            return cached
        stored = await self._credentials.load(info.id)
        if stored is None:
            raise unavailable(info, f"{info.label} was removed; add a credential for it")
        provider: CredentialProvider
        if info.kind is CredentialKind.API_KEY:
            provider = ApiKeyCredential(stored.secret)
        else:
            provider = AccessTokenCredential(stored.info, stored.secret, clock=self._clock)
        self._providers = {key: p for key, p in self._providers.items() if key[0] != info.id}
        self._providers[(info.id, info.version)] = provider
        return provider

    def _fallback(self, environment: Environment) -> CredentialProvider:
        key = self._settings.persona.key
        if key is not None and self._settings.environment == environment.value:
            return ApiKeyCredential(key)
        raise CredentialUnavailableError(
            f"no Persona credential is configured for the {environment.value} environment; run "
            f"`persona-mcp credentials add --env {environment.value} --api-key-stdin` (or `--oauth ...`)"
        )


async def open_credential_resolver(
    store: Store,
    settings: Settings,
    *,
    events: AdminEventSink,
    http_transport: httpx2.AsyncBaseTransport | None = None,
) -> CredentialResolver:
    """The server's resolver: the secret box from `PERSONA_MCP_SECRET_KEY` or the key file, and OAuth
    renewal `PERSONA_MCP_REFRESH_WINDOW_SECONDS` before expiry.

    A malformed configured key fails here, at startup, rather than at the first tool call.
    """
    in_use = await stored_key_ids(store)  # never create a new key while credentials need the old one
    box = await anyio.to_thread.run_sync(
        lambda: load_secret_box(settings.secret_key, settings.data_dir, stored_key_ids=in_use)
    )
    return CredentialResolver(
        store,
        box,
        settings=settings,
        events=events,
        http_transport=http_transport,
        refresh_window_seconds=settings.refresh_window_seconds,
    )
