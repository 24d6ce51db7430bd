"""Issue 11, case 3: one grant cannot fill the session table.

A real server on a loopback socket; sessions are opened with raw `initialize` requests (what a flood
sends) and used with the SDK client (what a well-behaved agent does).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from _http_server import ACCEPT, bearer, http_server, open_session, session_headers
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.config import HttpSettings
from persona_mcp.testing import issue_grant

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def _agent(url: str, token: str) -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(headers=bearer(token), timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            yield client


async def test_a_flood_of_sessions_from_one_grant_never_denies_service_to_another_grant(
    tmp_path: Path,
) -> None:
    limits = HttpSettings(max_sessions=20, max_sessions_per_grant=4)
    async with http_server(tmp_path, http=limits) as running:
        flooder = await issue_grant(running.app, ["accounts:read"], principal="flooder")
        other = await issue_grant(running.app, ["accounts:read"], principal="other-agent")
        statuses: list[int] = []
        async with httpx2.AsyncClient(timeout=30) as http:

            async def flood() -> None:
                statuses.append((await open_session(http, running.mcp, flooder)).status_code)

            async with anyio.create_task_group() as tg:
                for _ in range(60):  # three times the whole session table
                    tg.start_soon(flood)
            refused = await open_session(http, running.mcp, flooder)
            assert (await open_session(http, running.mcp, other)).status_code == 200
            health = (await http.get(f"{running.base}/healthz")).json()

        assert statuses.count(200) == 4, statuses
        assert set(statuses) == {200, 429}, "the flood is refused per grant, never by a full table (503)"
        assert refused.status_code == 429
        message = refused.json()["error"]["message"]
        assert "4 open MCP sessions" in message and "PERSONA_MCP_HTTP_MAX_SESSIONS_PER_GRANT" in message
        assert health["status"] == "ok" and health["sessions"] == {"open": 5, "limit": 20}
        async with _agent(running.mcp, other) as client:
            assert not (await client.call_tool("list_accounts", {})).is_error


async def test_opening_a_session_counts_against_the_grants_rate_limit(tmp_path: Path) -> None:
    async with http_server(tmp_path) as running:
        token = await issue_grant(running.app, ["accounts:read"], rate_per_minute=1)
        async with httpx2.AsyncClient(timeout=30) as http:
            first = await open_session(http, running.mcp, token)
            second = await open_session(http, running.mcp, token)
        assert first.status_code == 200
        assert second.status_code == 429
        assert 50 <= int(second.headers["retry-after"]) <= 60
        error = second.json()["error"]
        assert "Opening a session counts as a call" in error["message"]
        assert "1 calls per minute" in error["message"]
        records = [r async for r in iter_records(running.app.store, AuditFilter())]
        denied = [r for r in records if r.kind == "call.denied" and r.tool == "initialize"]
        assert [r.reason for r in denied] == ["rate limited"]


async def test_a_grant_holds_at_most_its_cap_of_sessions_and_ending_one_frees_a_place(tmp_path: Path) -> None:
    async with http_server(tmp_path, http=HttpSettings(max_sessions_per_grant=2)) as running:
        token = await issue_grant(running.app, ["accounts:read"])
        async with httpx2.AsyncClient(timeout=30) as http:
            opened = [await open_session(http, running.mcp, token) for _ in range(2)]
            assert [r.status_code for r in opened] == [200, 200]
            assert (await open_session(http, running.mcp, token)).status_code == 429
            session_id = opened[0].headers["mcp-session-id"]
            ended = await http.delete(running.mcp, headers=session_headers(token, session_id))
            assert ended.status_code == 200
            assert (await open_session(http, running.mcp, token)).status_code == 200
            assert (await open_session(http, running.mcp, token)).status_code == 429
        records = [r async for r in iter_records(running.app.store, AuditFilter())]
        assert [r.reason for r in records if r.tool == "initialize"] == ["session limit", "session limit"]


async def test_another_grant_cannot_free_a_place_by_deleting_a_session_it_does_not_own(
    tmp_path: Path,
) -> None:
    async with http_server(tmp_path, http=HttpSettings(max_sessions_per_grant=1)) as running:
        owner = await issue_grant(running.app, ["accounts:read"], principal="owner")
        intruder = await issue_grant(running.app, ["accounts:read"], principal="intruder")
        async with httpx2.AsyncClient(timeout=30) as http:
            session_id = (await open_session(http, running.mcp, owner)).headers["mcp-session-id"]
            foreign = await http.delete(running.mcp, headers=session_headers(intruder, session_id))
            assert foreign.status_code == 404
            assert (await open_session(http, running.mcp, owner)).status_code == 429, "still counted"


async def test_idle_sessions_are_closed_after_the_configured_timeout_and_free_their_place(
    tmp_path: Path,
) -> None:
    limits = HttpSettings(max_sessions_per_grant=1, session_idle_timeout_seconds=1)
    async with http_server(tmp_path, http=limits) as running:
        token = await issue_grant(running.app, ["accounts:read"])
        async with httpx2.AsyncClient(timeout=30) as http:
            idle = (await open_session(http, running.mcp, token)).headers["mcp-session-id"]
            with anyio.fail_after(20):  # opening attempts do not touch the idle session
                while (replacement := await open_session(http, running.mcp, token)).status_code == 429:
                    await anyio.sleep(0.2)
            assert replacement.status_code == 200
            ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
            gone = await http.post(running.mcp, json=ping, headers={**ACCEPT, **session_headers(token, idle)})
            assert gone.status_code == 404


def test_the_idle_timeout_defaults_to_minutes() -> None:
    assert 60 <= HttpSettings().session_idle_timeout_seconds <= 600


async def test_a_second_sse_stream_for_one_session_is_refused(tmp_path: Path) -> None:
    async with http_server(tmp_path) as running:
        token = await issue_grant(running.app, ["accounts:read"])
        async with httpx2.AsyncClient(timeout=30) as http:
            session_id = (await open_session(http, running.mcp, token)).headers["mcp-session-id"]
            headers = session_headers(token, session_id, accept="text/event-stream")
            initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            await http.post(running.mcp, json=initialized, headers={**headers, **ACCEPT})
            async with http.stream("GET", running.mcp, headers=headers) as first:
                assert first.status_code == 200
                second = await http.get(running.mcp, headers=headers)
                assert second.status_code == 409
                assert "Only one SSE stream" in second.text


async def test_healthz_reports_degraded_when_the_session_table_is_nearly_full(tmp_path: Path) -> None:
    limits = HttpSettings(max_sessions=10, max_sessions_per_grant=10)
    async with http_server(tmp_path, http=limits) as running:
        token = await issue_grant(running.app, ["accounts:read"])
        async with httpx2.AsyncClient(timeout=30) as http:
            for _ in range(8):
                assert (await open_session(http, running.mcp, token)).status_code == 200
            assert (await http.get(f"{running.base}/healthz")).json()["status"] == "ok"
            assert (await open_session(http, running.mcp, token)).status_code == 200
            health = await http.get(f"{running.base}/healthz")
        assert health.status_code == 200
        assert health.json()["status"] == "degraded"
        assert health.json()["sessions"] == {"open": 9, "limit": 10}
