"""Running the assembled server on a transport until it is stopped."""

from __future__ import annotations

import contextlib
import functools
import signal
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import anyio
import uvicorn
from starlette.applications import Starlette

from persona_mcp.auth.oauth.provider import issuer_for
from persona_mcp.auth.verifier import CallerTokenVerifier
from persona_mcp.config import AuthMode, Settings
from persona_mcp.server.core import ServerCore, open_core
from persona_mcp.server.front import StackSlot, hold_stack
from persona_mcp.server.heap import freeze_imports
from persona_mcp.server.http import build_deferred_http_app, build_http_app, resource_url
from persona_mcp.server.metrics_http import metrics_app
from persona_mcp.server.observe import Observer
from persona_mcp.server.serving import bind_listener, uvicorn_config

if TYPE_CHECKING:
    from persona_mcp.server.app import PersonaMcp


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
    return build_http_app(app, **_http_options(app, settings, resource))


def _http_options(core: ServerCore, settings: Settings, resource: str) -> dict[str, Any]:
    """Token checks, authorization server routes and limits of the HTTP app (see `http_app_for`)."""
    verifier = CallerTokenVerifier(core.callers, resource_url=resource)
    issuers: list[str] = []
    routes: list[Any] = []
    mode = settings.auth_mode
    if mode is AuthMode.EXTERNAL and settings.oauth.issuer:
        issuers = [settings.oauth.issuer]
    elif mode is AuthMode.BUILTIN and core.authorization is not None:
        from persona_mcp.server.authorization_routes import authorization_routes

        issuer = issuer_for(resource)
        issuers = [issuer]
        routes = authorization_routes(core.authorization, core.grants, issuer=issuer, settings=settings)
    return {
        "verifier": verifier,
        "resource": resource,
        "authorization_servers": issuers,
        "limits": settings.http,
        "auth_routes": routes,
        "metrics": settings.metrics,
    }


async def run_http(
    settings: Settings, exposure: Mapping[str, Any], *, host: str, port: int, public_url: str | None = None
) -> None:
    """Serve streamable HTTP at /mcp until interrupted.

    The store, the audit log and the token checks open first (`open_core`), then the server listens and
    answers `initialize`; the tool catalogue and the call pipeline are imported and opened meanwhile, and
    every request that needs them waits (`build_deferred_http_app`). If they cannot open (an unknown tool
    name), the server stops and raises their error. `exposure` holds `ExposureOptions` fields (built
    once the catalogue is imported)."""
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
        freeze_imports()  # this module imported the core's stack: see server/heap.py
        async with open_core(settings, transport="http", resource_url=resource) as core:
            slot = StackSlot()
            asgi = build_deferred_http_app(core, slot, **_http_options(core, settings, resource))
            config = uvicorn_config(
                asgi, host=host, port=port, header_timeout=settings.http.header_timeout_seconds
            )
            server = _GracefulServer(config)
            serving_over = anyio.Event()

            async def serve(app: PersonaMcp) -> None:
                await serving_over.wait()

            def stop() -> None:
                server.should_exit = True

            async with anyio.create_task_group() as stack:
                rest = functools.partial(
                    hold_stack, transport="http", core=core, serve=serve, on_failure=stop
                )
                stack.start_soon(rest, slot, settings, exposure)
                async with anyio.create_task_group() as tasks:
                    if metrics_listener is not None:
                        tasks.start_soon(serve_metrics, core.observer, settings, metrics_listener)
                    try:
                        await server.serve(sockets=[listener])
                    finally:
                        # The stack closes on its own (its last records written), the core after it.
                        serving_over.set()
                        tasks.cancel_scope.cancel()
            if slot.error is not None:
                raise slot.error


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
