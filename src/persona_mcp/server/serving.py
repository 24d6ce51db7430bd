"""Serving an ASGI app with uvicorn: the one place its connection settings are chosen.

`uvicorn_config` is used by `serve --transport http` and by `serving`, which runs an app on a free
loopback port inside the running event loop (demo, tests, benchmarks), so both get the same protection
against clients that never finish sending their headers.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import uvicorn

from persona_mcp.config import DEFAULT_HEADER_TIMEOUT_SECONDS
from persona_mcp.operator_error import OperatorError
from persona_mcp.server.header_deadline import header_deadline_protocol


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bind_listener(host: str, port: int, *, option: str = "--port") -> socket.socket:
    """A listening socket on `host:port`, bound before anything else opens, so that a busy port is told
    in one line (and before the database is migrated) rather than by uvicorn's exit after startup."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise OperatorError(
            f"cannot listen on {host}:{port}: unknown host ({exc.strerror})",
            "pass an address of this machine to --host (127.0.0.1, 0.0.0.0, ::)",
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise OperatorError(
                f"port {port} on {host} is already in use",
                f"stop the process listening there (`ss -ltnp | grep :{port}`) or pass another {option}",
            ) from None
        raise OperatorError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            f"pass another {option} (ports under 1024 need privileges) or --host",
        ) from None
    sock.setblocking(False)
    return sock


def uvicorn_config(
    app: Any,
    *,
    host: str,
    port: int,
    header_timeout: float = DEFAULT_HEADER_TIMEOUT_SECONDS,
    log_level: str = "warning",
) -> uvicorn.Config:
    """uvicorn settings for one app: httptools with a total deadline on each request's headers, and no
    WebSocket protocol (MCP's transports are stdio and streamable HTTP; uvicorn's default would import
    `wsproto` or `websockets` at every start, ~12 ms, to upgrade connections nothing here serves)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        http=header_deadline_protocol(header_timeout),
        ws="none",
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
