"""The MCP session id in audit records made over streamable HTTP (docs/audit.md).

Clients speaking a handshake protocol (up to 2025-11-25) get an `Mcp-Session-Id` and every record of their
calls carries it. The 2026-07-28 protocol, which the SDK client negotiates by default, has no sessions at
all: no header, nothing to record, so those records say `null` rather than an invented id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from persona_mcp.audit import AuditRecord
from persona_mcp.audit.query import AuditFilter, query_records
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.server.app import open_server
from persona_mcp.server.run import http_app_for
from persona_mcp.server.serving import free_port, serving
from persona_mcp.testing import issue_grant, sandbox_app, sandbox_settings

pytestmark = pytest.mark.anyio

CALL_KINDS = ["call.denied", "call.intent", "call.outcome", "call.outcome", "call.outcome"]


@asynccontextmanager
async def _calls_over_http(
    tmp_path: Path, mode: str, session_ids: set[str]
) -> AsyncIterator[list[AuditRecord]]:
    """Four calls (a read, a write, invalid arguments, a refusal) from one client; yields their records."""
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    settings = sandbox_settings(tmp_path)

    async def remember_session(response: httpx2.Response) -> None:
        if "mcp-session-id" in response.headers:
            session_ids.add(response.headers["mcp-session-id"])

    async with open_server(
        settings,
        transport="http",
        resource_url=resource,
        persona_transport=SandboxTransport(sandbox_app("demo")),
    ) as app:
        token = await issue_grant(app, ["accounts:write"])
        async with serving(http_app_for(app, settings, resource, "127.0.0.1"), port):
            headers = {"Authorization": f"Bearer {token}"}
            hooks = {"response": [remember_session]}
            with anyio.fail_after(60):
                async with httpx2.AsyncClient(headers=headers, timeout=30, event_hooks=hooks) as http:
                    transport = streamable_http_client(resource, http_client=http)
                    async with Client(transport, mode=mode) as client:  # type: ignore[arg-type]
                        assert not (await client.call_tool("list_accounts", {})).is_error
                        created = await client.call_tool("create_account", {"reference_id": "ref-http-1"})
                        assert not created.is_error, created.content
                        assert (await client.call_tool("get_account", {"account_id": "not-an-id"})).is_error
                        with pytest.raises(MCPError):  # outside the grant: refused, and recorded
                            await client.call_tool("approve_inquiry", {"inquiry_id": "inq_x"})
        yield [r for r in await query_records(app.store, AuditFilter(), limit=None) if r.call_id]


async def test_every_record_of_an_http_session_carries_its_session_id(tmp_path: Path) -> None:
    session_ids: set[str] = set()
    async with _calls_over_http(tmp_path, "legacy", session_ids) as records:
        assert len(session_ids) == 1, "the server gives the client one session"
        (session_id,) = session_ids
        assert sorted(r.kind for r in records) == CALL_KINDS
        assert [(r.kind, r.session_id) for r in records] == [(r.kind, session_id) for r in records]
        assert {r.client_name for r in records} == {"mcp"}


async def test_stateless_protocol_records_name_the_client_and_no_session_because_none_exists(
    tmp_path: Path,
) -> None:
    session_ids: set[str] = set()
    async with _calls_over_http(tmp_path, "auto", session_ids) as records:
        assert session_ids == set(), "2026-07-28 has no Mcp-Session-Id"
        assert sorted(r.kind for r in records) == CALL_KINDS
        assert {r.session_id for r in records} == {None}
        assert {r.client_name for r in records} == {"mcp"}
