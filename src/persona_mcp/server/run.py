"""Running the assembled server on a transport until it is stopped."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette

from persona_mcp.auth.oauth.provider import issuer_for
from persona_mcp.auth.verifier import CallerTokenVerifier
from persona_mcp.config import AuthMode, Settings
from persona_mcp.server.app import PersonaMcp, open_server
from persona_mcp.server.exposure import ExposureOptions
from persona_mcp.server.heap import freeze_imports, freeze_startup_heap
from persona_mcp.server.http import build_http_app, resource_url
from persona_mcp.server.metrics_http import metrics_app
from persona_mcp.server.observe import Observer
from persona_mcp.server.serving import bind_listener, uvicorn_config


class _GracefulServer(uvicorn.Server):
    """uvicorn re-raises a caught SIGTERM/SIGINT once `serve()` returns, which kills the process before
    `open_server` can close the audit log (final signed checkpoint) and the store. This variant only
    asks uvicorn to stop, so the exit stack runs and the process exits normally."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def http_app_for(app: PersonaMcp, settings: Settings, resource: str, host: str = "127.0.0.1") -> Starlette:
    """The ASGI app for an opened server: grant tokens always, plus the tokens of the auth mode.

    - builtin: this server is its own authorization server (the SDK's routes on our provider, and the
      consent page); its metadata names itself;
    - external: JWTs of the configured issuer, which the metadata names;
    - grant-tokens: no metadata at all, since no authorization server exists.

    `host`, the bind address, no longer decides anything: the Host and Origin headers served come from
    `settings.http` or the resource URL, whatever the address (issue 11). It is kept for callers.
    """
    verifier = CallerTokenVerifier(app.callers, resource_url=resource)
    issuers: list[str] = []
    routes: list[Any] = []
    mode = settings.auth_mode
    if mode is AuthMode.EXTERNAL and settings.oauth.issuer:
        issuers = [settings.oauth.issuer]
    elif mode is AuthMode.BUILTIN and app.authorization is not None:
        from persona_mcp.server.authorization_routes import authorization_routes

        issuer = issuer_for(resource)
        issuers = [issuer]
        routes = authorization_routes(app.authorization, app.grants, issuer=issuer, settings=settings)
    return build_http_app(
        app,
        verifier=verifier,
        resource=resource,
        authorization_servers=issuers,
        limits=settings.http,
        auth_routes=routes,
        metrics=settings.metrics,
    )


async def run_http(
    settings: Settings, exposure: ExposureOptions, *, host: str, port: int, public_url: str | None = None
) -> None:
    """Serve streamable HTTP at /mcp until interrupted."""
    freeze_imports()  # this module imported the server's stack: see server/heap.py
    resource = public_url or settings.oauth.resource_url or resource_url(host, port)
    listener = bind_listener(host, port)  # a busy port is told before anything opens
    metrics_address = settings.metrics.address
    with contextlib.ExitStack() as sockets:
        sockets.enter_context(listener)
        metrics_listener = None
        if metrics_address is not None:
            metrics_listener = sockets.enter_context(
                bind_listener(*metrics_address, option="PERSONA_MCP_METRICS_BIND")
            )
        async with open_server(settings, exposure=exposure, transport="http", resource_url=resource) as app:
            asgi = http_app_for(app, settings, resource, host)
            config = uvicorn_config(
                asgi, host=host, port=port, header_timeout=settings.http.header_timeout_seconds
            )
            freeze_startup_heap()
            async with anyio.create_task_group() as tasks:
                if metrics_listener is not None and app.observer is not None:
                    tasks.start_soon(serve_metrics, app.observer, settings, metrics_listener)
                await _GracefulServer(config).serve(sockets=[listener])
                tasks.cancel_scope.cancel()


async def serve_metrics(observer: Observer, settings: Settings, listener: socket.socket) -> None:
    """The separate `/metrics` listener (`PERSONA_MCP_METRICS_BIND`), until cancelled."""
    address = settings.metrics.address
    assert address is not None
    config = uvicorn_config(metrics_app(observer, settings.metrics), host=address[0], port=address[1])
    await _SignalFreeServer(config).serve(sockets=[listener])


class _SignalFreeServer(uvicorn.Server):
    """A second listener in the process: the main server owns SIGINT/SIGTERM, this one is cancelled."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
