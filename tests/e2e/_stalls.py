"""A replica under test for store stalls: the HTTP server on a loopback port, its MCP client, and the
guard that turns a hang into a test failure instead of a stuck run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult

from persona_mcp.config import StoreSettings
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.server.app import PersonaMcp, open_server
from persona_mcp.server.errors import AUDIT_UNAVAILABLE
from persona_mcp.server.run import http_app_for
from persona_mcp.server.serving import free_port, serving
from persona_mcp.testing import issue_grant, sandbox_app, sandbox_settings

#: Short bounds, so a stall is refused quickly: the lock (or SQLite's busy) wait, one statement, the lease.
BOUNDS = StoreSettings(
    lock_timeout_seconds=1.0,
    statement_timeout_seconds=3.0,
    idle_in_transaction_timeout_seconds=3.0,
    sqlite_busy_timeout_seconds=1.0,
)
#: A hang detector, not a speed assertion: a refused call waits at most two lock bounds (its own batch
#: and the one before it), far below this; the code before issue 11 waited forever (or 30 s).
CALL_GUARD_S = 10.0


@dataclass
class Replica:
    base: str
    app: PersonaMcp
    client: Client
    http: httpx2.AsyncClient


@asynccontextmanager
async def replica(tmp_path: Path, database_url: str | None = None) -> AsyncIterator[Replica]:
    """One `serve --transport http` replica in this process (sandbox upstream), with an SDK client."""
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    settings = sandbox_settings(tmp_path / "replica", database_url=database_url)
    settings.store = BOUNDS
    async with open_server(
        settings,
        transport="http",
        resource_url=resource,
        persona_transport=SandboxTransport(sandbox_app("demo")),
    ) as app:
        token = await issue_grant(app, ["accounts:write"], principal="stall-agent")
        async with (
            serving(http_app_for(app, settings, resource, "127.0.0.1"), port) as base,
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
            Client(streamable_http_client(resource, http_client=http)) as client,
        ):
            yield Replica(base=base, app=app, client=client, http=http)


async def call_within_guard(
    client: Client, name: str, arguments: dict[str, Any]
) -> CallToolResult | MCPError:
    """The call's result or its refusal; fails the test if it does not return within `CALL_GUARD_S`."""
    with anyio.fail_after(CALL_GUARD_S):
        try:
            return await client.call_tool(name, arguments)
        except MCPError as refusal:
            return refusal


def assert_refused_as_stalled(outcome: CallToolResult | MCPError) -> None:
    assert isinstance(outcome, MCPError), f"expected a refusal while the store is stalled, got {outcome}"
    assert outcome.code == AUDIT_UNAVAILABLE
    assert "stalled" in outcome.message and "fail closed" in outcome.message


async def probe(http: httpx2.AsyncClient, base: str, path: str) -> httpx2.Response:
    with anyio.fail_after(CALL_GUARD_S):
        return await http.get(f"{base}{path}")
