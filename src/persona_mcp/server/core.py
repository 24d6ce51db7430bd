"""What a server opens before its tool catalogue: the store, the audit log, the grants, who is calling.

Checking a bearer token needs the grants, and a refused request needs the audit log; nothing else does.
Over HTTP, `initialize` is answered as soon as this core is open: the tool catalogue, the Persona client
and the call pipeline (`open_server`, given this core) are imported and opened while the first requests
come in, and requests that need them wait (`server/front.py`, issue 18: cold start). Over stdio and in
tests `open_server` opens its own core first.

This module imports no tool module (`tests/test_cli_startup.py`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import httpx2
from prometheus_client.core import Metric

from persona_mcp.audit import AuditLog, default_instance_id
from persona_mcp.audit.checkpoint import checkpoint_anchor
from persona_mcp.auth.callers import CallerResolver
from persona_mcp.auth.credentials.secretbox import load_secret_box
from persona_mcp.auth.grants import GrantStore
from persona_mcp.auth.ratelimit import GrantRateLimiter
from persona_mcp.config import AuthMode, Settings, create_private_dir
from persona_mcp.server.callers import BearerTokenCallers, CallerSource, StaticTokenCallers
from persona_mcp.server.observe import Observer, configure_tracing, gauge
from persona_mcp.store import Store, create_store, serving_bounds, upgrade

if TYPE_CHECKING:  # HTTP token modes: imported where `open_core` switches them on
    from persona_mcp.auth.jwt import JwtVerifier
    from persona_mcp.auth.oauth.provider import GrantBoundAuthorizationServer


@dataclass(slots=True)
class ServerCore:
    """The parts of a server that exist before its tool catalogue is loaded."""

    settings: Settings
    store: Store
    audit: AuditLog
    grants: GrantStore
    callers: CallerResolver
    caller_source: CallerSource
    instance_id: str
    observer: Observer
    #: Per-grant call and session rates: the HTTP session guard and the pipeline share it.
    rate_limiter: GrantRateLimiter
    #: The built-in authorization server (HTTP in `builtin` auth mode), else None.
    authorization: GrantBoundAuthorizationServer | None = None

    def know_tools(self, names: Collection[str]) -> None:
        """The exposed tools' names, once the catalogue is loaded (grant lists, metric labels)."""
        self.grants.know_tools(names)
        self.observer.know_tools(names)


@asynccontextmanager
async def open_core(
    settings: Settings,
    *,
    transport: str = "stdio",
    callers: CallerSource | None = None,
    store: Store | None = None,
    instance_id: str | None = None,
    resource_url: str | None = None,
    jwks_transport: httpx2.AsyncBaseTransport | None = None,
    observer: Observer | None = None,
) -> AsyncIterator[ServerCore]:
    """Open the store (and migrate it), the audit log and the token checks; close them on exit."""
    configure_tracing()  # OTLP export when OTEL_EXPORTER_OTLP_ENDPOINT is set (once per process)
    instance = instance_id or default_instance_id(settings.data_dir)
    async with AsyncExitStack() as stack:
        create_private_dir(settings.data_dir)
        if store is None:
            # Short waits on the request path: a stalled lock holder gets calls refused, never hung.
            bounds = serving_bounds(settings.store, outbound_timeout_s=settings.persona.timeout_seconds)
            store = create_store(settings.resolved_database_url, bounds=bounds)
            stack.push_async_callback(store.close)
        await upgrade(store)
        anchor = checkpoint_anchor(settings.audit_checkpoint_location, settings.data_dir)
        audit = await AuditLog.open(
            store,
            data_dir=settings.data_dir,
            instance_id=instance,
            external_checkpoint_path=anchor.file,
            checkpoint_witness_url=anchor.witness_url,
        )
        stack.push_async_callback(audit.aclose)
        grants = GrantStore(store, audit)
        jwt: JwtVerifier | None = None
        authorization: GrantBoundAuthorizationServer | None = None
        mode = settings.auth_mode
        if transport == "http" and mode is AuthMode.EXTERNAL:
            if not settings.oauth.enabled:
                raise ValueError(
                    "--auth external needs PERSONA_MCP_OAUTH_ISSUER and PERSONA_MCP_OAUTH_JWKS_URL"
                )
            from persona_mcp.auth.jwt import JwtVerifier  # joserfc: external JWTs only

            jwt = JwtVerifier(settings.oauth, audience=resource_url, transport=jwks_transport)
        if transport == "http" and mode is AuthMode.BUILTIN and resource_url:
            from persona_mcp.auth.oauth.clients import ClientStore
            from persona_mcp.auth.oauth.provider import (
                CONSENT_PATH,
                GrantBoundAuthorizationServer,
                issuer_for,
            )

            box = await anyio.to_thread.run_sync(load_secret_box, settings.secret_key, settings.data_dir)
            issuer = issuer_for(resource_url)
            authorization = GrantBoundAuthorizationServer(
                store,
                events=audit,
                grants=grants,
                clients=ClientStore(store, audit, box=box),
                resource=resource_url,
                consent_url=issuer.rstrip("/") + CONSENT_PATH,
                lifetimes=settings.authorization,
            )
        resolver = CallerResolver(grants, jwt=jwt, oauth=authorization)
        if authorization is not None:
            authorization.on_family_revoked = resolver.forget
        if callers is not None:
            caller_source = callers
        elif transport == "http":
            caller_source = BearerTokenCallers(resolver)
        else:
            token = settings.token.get_secret_value() if settings.token else None
            caller_source = StaticTokenCallers(resolver, token)
        observer = observer or Observer()
        observer.add_gauges(lambda: _audit_gauges(audit))
        yield ServerCore(
            settings=settings,
            store=store,
            audit=audit,
            grants=grants,
            callers=resolver,
            caller_source=caller_source,
            instance_id=instance,
            observer=observer,
            rate_limiter=GrantRateLimiter(),
            authorization=authorization,
        )


def _audit_gauges(audit: AuditLog) -> Iterator[Metric]:
    """The audit log's state, read at each scrape."""
    health = audit.health
    yield gauge("persona_mcp_audit_ok", "1 while the audit log accepts appends.", 1.0 if health.ok else 0.0)
    yield gauge("persona_mcp_audit_queue_depth", "Appends queued for the audit writer.", audit.queue_depth)
    yield gauge("persona_mcp_audit_spooled_records", "Outcomes waiting in the local spool.", audit.spooled)
