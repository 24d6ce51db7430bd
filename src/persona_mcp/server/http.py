"""Streamable HTTP at `/mcp`, an OAuth 2.1 resource server (RFC 9728 metadata), and `/healthz`.

Built from the SDK's own pieces (session manager, bearer backend, `RequireAuthMiddleware`, protected
resource routes) rather than `Server.streamable_http_app`, so the step-up check can sit between
authentication and the MCP endpoint: it needs the verified token, and must answer before the MCP layer.
The per-grant session guard sits there too, for the same reason.

Exposure (issue 11): the Host/Origin guard wraps the whole app, on every bind address; sessions are
bounded in total and per grant and closed when idle; `/healthz` says `degraded` when the session table
is nearly full, and shows the version and instance id only to local or authenticated callers.

Stalls (issue 11): `/healthz` is 503 with the reason while the audit log is stalled (a batch could not
get the chain lock within its bound, or a commit outran every bound); `/readyz` says whether this replica
can append right now (a recent commit, or a probe of the chain lock within a bound), 200 or 503 with the
reason, under the same Host/Origin guard and the same rule for showing the instance id.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend, RequireAuthMiddleware
from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.routes import build_resource_metadata_url, create_protected_resource_routes
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as AsgiScope

from persona_mcp.audit import AuditUnavailableError
from persona_mcp.auth.callers import Caller, TokenRefusal
from persona_mcp.auth.scopes import Scope
from persona_mcp.config import HttpSettings, MetricsSettings
from persona_mcp.events.receiver import PATH as RECEIVER_PATH
from persona_mcp.server.core import ServerCore
from persona_mcp.server.deferred import DeferredApp
from persona_mcp.server.http_auth import (
    DEFAULT_MAX_INSPECTED_BYTES,
    RefusalRecorder,
    StepUpMiddleware,
    may_call_a_tool,
    read_body,
    replay_body,
)
from persona_mcp.server.metrics_http import metrics_endpoint
from persona_mcp.server.observe import gauge
from persona_mcp.server.rebinding import RebindingGuard, allowed_headers
from persona_mcp.server.refusals import DenialWriter, RecordRefusedRequests, RefusalAggregator
from persona_mcp.server.session_guard import OpeningRefusalRecorder, SessionGuard, SessionLedger
from persona_mcp.server.session_info import SessionInfo, bounded

if TYPE_CHECKING:
    from persona_mcp.server.app import PersonaMcp
    from persona_mcp.server.front import StackSlot
    from persona_mcp.server.pipeline import AnySpec

#: The assembled server, once it is open (at once for an open server; later for a deferred start).
Stack = Callable[[], Awaitable["PersonaMcp"]]

#: Share of `max_sessions` open at which /healthz reports `degraded`.
SESSIONS_DEGRADED_AT = 0.9
#: Headers a reverse proxy adds: a request carrying one is not treated as local, whatever its peer.
_FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def resource_url(host: str, port: int, public_url: str | None = None) -> str:
    """This server's resource identifier (RFC 8707 audience of the tokens it accepts)."""
    if public_url:
        return public_url.rstrip("/")
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://{shown}:{port}/mcp"


def _refusal_recorder(stack: Stack) -> RefusalRecorder:
    async def record(
        caller: Caller, tool: str, arguments: Mapping[str, Any] | None, session_id: str | None, reason: str
    ) -> None:
        session = SessionInfo(session_id=bounded(session_id), transport="http")
        await (await stack()).pipeline.record_refusal(caller, tool, arguments, session, reason)

    return record


def _denial_writer(stack: Stack) -> DenialWriter:
    async def write(
        refusal: TokenRefusal,
        tool: str | None,
        session: SessionInfo,
        reason: str | None,
        details: Mapping[str, Any] | None,
    ) -> None:
        pipeline = (await stack()).pipeline
        await pipeline.record_unauthenticated(refusal, tool, session, reason=reason, details=details)

    return write


def _opening_refusal_recorder(stack: Stack) -> OpeningRefusalRecorder:
    record = _refusal_recorder(stack)

    async def record_opening(caller: Caller, session_id: str | None, reason: str) -> None:
        await record(caller, "initialize", None, session_id, reason)

    return record_opening


def _is_local(request: Request) -> bool:
    """A direct connection from this machine (not one relayed by a proxy on it)."""
    if any(name in request.headers for name in _FORWARDING_HEADERS) or request.client is None:
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


def _add_sessions(report: dict[str, Any], request: Request, *, open_sessions: int, limit: int) -> None:
    """`degraded` near the session limit (still 200: serving, but new sessions may soon be refused); the
    session count, version and instance id only for local or authenticated callers."""
    if report["status"] == "ok" and open_sessions >= SESSIONS_DEGRADED_AT * limit:
        report["status"] = "degraded"
    if request.user.is_authenticated or _is_local(request):
        report["sessions"] = {"open": open_sessions, "limit": limit}
    else:
        report.pop("version", None)
        report.pop("instance", None)
        report.pop("warnings", None)  # they name grants and environments


def _readiness_report(ok: bool, reason: str | None, request: Request, instance: str) -> dict[str, Any]:
    report: dict[str, Any] = {
        "status": "ready" if ok else "unavailable",
        "audit": {"ok": ok, "reason": reason},
    }
    if request.user.is_authenticated or _is_local(request):
        report["instance"] = instance
    return report


def build_http_app(
    app: PersonaMcp,
    *,
    verifier: TokenVerifier,
    resource: str,
    authorization_servers: list[str],
    limits: HttpSettings | None = None,
    auth_routes: list[Any] | None = None,
    metrics: MetricsSettings | None = None,
) -> Starlette:
    """The ASGI app serving one assembled server over streamable HTTP.

    `authorization_servers` empty means grant tokens only: no protected resource metadata is served,
    since it would have to name an authorization server that does not exist. `auth_routes` are those of
    the built-in authorization server (metadata, register, authorize, token, revoke, consent page).
    `/metrics` is served on the same port when a metrics token is set and no separate metrics address is.
    """

    async def opened() -> PersonaMcp:
        return app

    return _http_app(
        app,
        opened,
        app.server,
        _StepUpTools(app.pipeline.exposed),
        verifier=verifier,
        resource=resource,
        authorization_servers=authorization_servers,
        limits=limits,
        auth_routes=auth_routes,
        metrics=metrics,
    )


def build_deferred_http_app(core: ServerCore, slot: StackSlot, **options: Any) -> Starlette:
    """The same app (`options` are `build_http_app`'s) for a server whose catalogue and pipeline are
    still opening, into `slot`.

    Sessions are served by the front server (`server/front.py`), so `initialize` is answered on the core
    alone. What needs the rest waits until `slot` holds the assembled server (or fails with it): every
    other MCP request, a tool call's step-up check, a refusal's record, `/healthz`, `/readyz`, webhook
    deliveries and the console."""
    from persona_mcp.server.front import front_server

    step_up = _StepUpTools()
    tool_calls_wait = functools.partial(_ToolCallsAfterTheCatalogue, slot=slot, step_up=step_up)
    return _http_app(
        core, slot.ready, front_server(slot), step_up, tool_calls_wait=tool_calls_wait, **options
    )


def _http_app(
    core: ServerCore,
    stack: Stack,
    server: Server[Any],
    step_up: _StepUpTools,
    *,
    verifier: TokenVerifier,
    resource: str,
    authorization_servers: list[str],
    limits: HttpSettings | None = None,
    auth_routes: list[Any] | None = None,
    metrics: MetricsSettings | None = None,
    tool_calls_wait: Callable[[ASGIApp], ASGIApp] | None = None,
) -> Starlette:
    limits = limits or HttpSettings()
    security = allowed_headers(resource, hosts=limits.allowed_hosts, origins=limits.allowed_origins)
    manager = StreamableHTTPSessionManager(
        app=server,
        security_settings=security,
        session_idle_timeout=limits.session_idle_timeout_seconds,
        max_sessions=limits.max_sessions,
    )
    ledger = SessionLedger(idle_timeout=limits.session_idle_timeout_seconds)
    core.observer.add_gauges(
        lambda: [
            gauge("persona_mcp_sessions_open", "Open MCP sessions over HTTP.", ledger.open_count()),
            gauge("persona_mcp_sessions_limit", "Most MCP sessions open at once.", limits.max_sessions),
        ]
    )
    resource_any = AnyHttpUrl(resource)
    metadata_url = str(build_resource_metadata_url(resource_any))
    sessions = SessionGuard(
        StreamableHTTPASGIApp(manager),
        ledger=ledger,
        rate_limiter=core.rate_limiter,
        max_per_grant=limits.max_sessions_per_grant,
        on_refused=_opening_refusal_recorder(stack),
    )
    refusals = RefusalAggregator(_denial_writer(stack), core.audit.digester.digest)
    endpoint = RecordRefusedRequests(
        RequireAuthMiddleware(
            (tool_calls_wait or _as_is)(
                StepUpMiddleware(
                    sessions,
                    tool_scopes=step_up.scopes,
                    tool_effects=step_up.effects,
                    on_refused=_refusal_recorder(stack),
                    resource_metadata_url=metadata_url,
                )
            ),
            required_scopes=[],
            resource_metadata_url=AnyHttpUrl(metadata_url) if authorization_servers else None,
        ),
        aggregator=refusals,
        explain=core.callers.refusal,
    )

    async def healthz(request: Request) -> JSONResponse:
        app = await stack()
        await app.refresh_warnings()
        report = app.health()
        # Degraded still serves (200): a warning names calls that will fail, not the server itself.
        status_code = 503 if report["status"] == "unavailable" else 200
        _add_sessions(report, request, open_sessions=ledger.open_count(), limit=limits.max_sessions)
        return JSONResponse(report, status_code=status_code)

    async def readyz(request: Request) -> JSONResponse:
        await stack()
        readiness = await core.audit.readiness()
        report = _readiness_report(readiness.ok, readiness.reason, request, core.instance_id)
        return JSONResponse(report, status_code=200 if readiness.ok else 503)

    async def receive_delivery(request: Request) -> Any:
        return await (await stack()).events.receiver.handle(request)

    routes: list[Any] = [
        Route("/mcp", endpoint=endpoint),
        Route("/healthz", endpoint=healthz, methods=["GET"]),
        Route("/readyz", endpoint=readyz, methods=["GET"]),
        # Persona's deliveries: no bearer token (Persona sends none); the signature is the credential.
        Route(RECEIVER_PATH, endpoint=receive_delivery, methods=["POST"]),
    ]
    if limits.console:
        # Jinja2 and the pages load with the console's first request, not with the server.
        routes.append(Mount("/console", app=DeferredApp(lambda: _console(stack, auth_routes))))
    if metrics is not None and metrics.token is not None and metrics.bind is None:
        routes.append(metrics_endpoint(core.observer, metrics))
    if authorization_servers:
        routes.extend(
            create_protected_resource_routes(
                resource_url=resource_any,
                authorization_servers=[AnyHttpUrl(url) for url in authorization_servers],
                scopes_supported=[scope.value for scope in Scope],
                resource_name="persona-mcp",
            )
        )
    routes.extend(auth_routes or [])
    middleware = [
        # Outermost: a request under a name or from an origin this server does not answer to is refused
        # before anything else looks at it (tokens included), on every route.
        Middleware(RebindingGuard, settings=security),
        Middleware(AuthenticationMiddleware, backend=BearerAuthBackend(verifier)),
        Middleware(AuthContextMiddleware),
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lambda _app: _serving(manager, refusals))


class _StepUpTools:
    """The exposed tools' scopes and effects, which the step-up check reads (filled once they are known)."""

    def __init__(self, exposed: Iterable[AnySpec] | None = None) -> None:
        self.scopes: dict[str, Scope] = {}
        self.effects: dict[str, str] = {}
        self.filled = False
        if exposed is not None:
            self.fill(exposed)

    def fill(self, exposed: Iterable[AnySpec]) -> None:
        for spec in exposed:
            self.effects[spec.name] = spec.effect.value
            self.scopes[spec.name] = spec.scope
        self.filled = True


def _as_is(app: ASGIApp) -> ASGIApp:
    return app


class _ToolCallsAfterTheCatalogue:
    """While the catalogue is opening, a POST that may call a tool waits for it; others pass at once.

    Two checks run on a tool call before it is dispatched, and both read the catalogue: the step-up
    check (the tool's scope, `StepUpMiddleware`) and the SDK's check of the call's `Mcp-Param-*` headers
    against the tool's input schema (the front server's `get_tool_input_schema` reads the assembled
    server's). Once the catalogue is open, requests pass without their body being read."""

    def __init__(self, app: ASGIApp, slot: StackSlot, step_up: _StepUpTools) -> None:
        self._app, self._slot, self._step_up = app, slot, step_up

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if self._step_up.filled or scope["type"] != "http" or scope.get("method") != "POST":
            await self._app(scope, receive, send)
            return
        if self._slot.app is not None:
            self._step_up.fill(self._slot.app.pipeline.exposed)
            await self._app(scope, receive, send)
            return
        chunks, complete, disconnected = await read_body(receive, DEFAULT_MAX_INSPECTED_BYTES)
        body = b"".join(chunks)
        if not complete or may_call_a_tool(body):
            self._step_up.fill((await self._slot.ready()).pipeline.exposed)
        await self._app(scope, replay_body(body, complete, disconnected, receive), send)


async def _console(stack: Stack, auth_routes: list[Any] | None) -> Starlette:
    """The console; with the built-in authorization server it signs people in through it too, its token
    request going to the server's own endpoints in process."""
    from persona_mcp.server.console import ConsoleOAuth, console_for

    app = await stack()
    oauth = None
    if auth_routes and app.authorization is not None:
        oauth = ConsoleOAuth(app.authorization, endpoints=Starlette(routes=list(auth_routes)))
    return console_for(app, oauth=oauth)


@asynccontextmanager
async def _serving(manager: StreamableHTTPSessionManager, refusals: RefusalAggregator) -> AsyncIterator[None]:
    """The session manager, and the refusal counts flushed as their windows end and at shutdown."""
    async with manager.run(), anyio.create_task_group() as tasks:
        tasks.start_soon(refusals.run)
        try:
            yield
        finally:
            tasks.cancel_scope.cancel()
            with anyio.CancelScope(shield=True):
                # If the log is down, the first refusal of each group is recorded already.
                with contextlib.suppress(AuditUnavailableError):
                    await refusals.flush_all()
