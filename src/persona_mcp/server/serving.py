"""Serving an ASGI app with uvicorn: the one place its connection settings are chosen.

`uvicorn_config` is used by `serve --transport http` and by `serving`, which runs an app on a free
loopback port inside the running event loop (demo, tests, benchmarks), so both get the same protection
against clients that never finish sending their headers.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import uvicorn

from persona_mcp.config import DEFAULT_HEADER_TIMEOUT_SECONDS
from persona_mcp.server.header_deadline import header_deadline_protocol


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def uvicorn_config(
    app: Any,
    *,
    host: str,
    port: int,
    header_timeout: float = DEFAULT_HEADER_TIMEOUT_SECONDS,
    log_level: str = "warning",
) -> uvicorn.Config:
    """uvicorn settings for one app: h11 with a total deadline on each request's headers."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        http=header_deadline_protocol(header_timeout),
    )


@asynccontextmanager
async def serving(
    app: Any, port: int | None = None, *, header_timeout: float = DEFAULT_HEADER_TIMEOUT_SECONDS
) -> AsyncIterator[str]:
    """Serve an ASGI app on 127.0.0.1 until the block exits; yields its base URL."""
    port = port or free_port()
    config = uvicorn_config(
        app, host="127.0.0.1", port=port, header_timeout=header_timeout, log_level="error"
    )
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(10):
            while not server.started:
                await anyio.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
