"""Test helpers shared by the credentials tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import uvicorn
from starlette.types import ASGIApp


@dataclass
class RecordingSink:
    """An `AdminEventSink` that keeps every event, and can be told to fail like a broken audit log."""

    events: list[dict[str, Any]] = field(default_factory=list)
    broken: bool = False

    async def admin_event(
        self, *, action: str, actor: str, target: str, details: Mapping[str, Any] | None = None
    ) -> None:
        if self.broken:
            raise RuntimeError("audit log unavailable")
        self.events.append(
            {"action": action, "actor": actor, "target": target, "details": dict(details or {})}
        )

    def actions(self) -> list[str]:
        return [event["action"] for event in self.events]


class FakeClock:
    """One clock for the sandbox (epoch seconds) and the server (UTC datetimes): tests move time."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def utc(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)

    def advance(self, seconds: float) -> None:
        self.now += seconds


#: All an agent is told when a credential needs an administrator (`.format(env=...)`).
AGENT_MESSAGE = (
    "the upstream credential for {env} is unavailable; an administrator must reconnect it "
    "(see `persona-mcp credentials list`)"
)

#: Where the in-process sandbox answers (requests never leave the process: ASGI transport).
SANDBOX_ORIGIN = "http://sandbox.persona.test"
TOKEN_URL = SANDBOX_ORIGIN + "/api/v1/oauth/token"
API_BASE_URL = SANDBOX_ORIGIN + "/api/v1"


@contextmanager
def serve_on_loopback(app: ASGIApp, **options: Any) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread on a free loopback port; yields its origin. `options` go to
    `uvicorn.Config` (say, `timeout_keep_alive`).

    The socket is listening before uvicorn starts, so connections queue in the backlog and nothing has
    to wait for the server to come up.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="critical", lifespan="off", access_log=False, **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
