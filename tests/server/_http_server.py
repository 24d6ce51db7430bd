"""A real persona-mcp HTTP server on a loopback port (uvicorn), its upstream the in-process sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from persona_mcp.config import HttpSettings
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.server.app import PersonaMcp, open_server
from persona_mcp.server.run import http_app_for
from persona_mcp.server.serving import free_port, serving
from persona_mcp.testing import sandbox_app, sandbox_settings

PROTOCOL_VERSION = "2025-06-18"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "flood", "version": "1"},
    },
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


@dataclass
class Running:
    base: str
    """http://127.0.0.1:<port>"""
    mcp: str
    """The /mcp URL on the loopback socket."""
    app: PersonaMcp


@asynccontextmanager
async def http_server(
    tmp_path: Path,
    *,
    http: HttpSettings | None = None,
    public_url: str | None = None,
    bind: str = "127.0.0.1",
) -> AsyncIterator[Running]:
    """Serve the assembled server; `public_url` is its resource URL, `bind` the address it was told."""
    port = free_port()
    resource = public_url or f"http://127.0.0.1:{port}/mcp"
    settings = sandbox_settings(tmp_path)
    if http is not None:
        settings.http = http
    async with open_server(
        settings,
        transport="http",
        resource_url=resource,
        persona_transport=SandboxTransport(sandbox_app("demo")),
    ) as app:
        asgi = http_app_for(app, settings, resource, bind)
        async with serving(asgi, port, header_timeout=settings.http.header_timeout_seconds) as base:
            yield Running(base=base, mcp=f"{base}/mcp", app=app)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def open_session(http: httpx2.AsyncClient, url: str, token: str) -> httpx2.Response:
    """One `initialize` without a session id: the request that opens a session."""
    return await http.post(url, json=INITIALIZE, headers={**ACCEPT, **bearer(token)})


def session_headers(token: str, session_id: str, **extra: Any) -> dict[str, str]:
    return {
        **bearer(token),
        "mcp-session-id": session_id,
        "mcp-protocol-version": PROTOCOL_VERSION,
        **{key.replace("_", "-"): str(value) for key, value in extra.items()},
    }
