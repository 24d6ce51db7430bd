"""Over HTTP, `initialize` is answered on the server's core while its tool catalogue is still opening.

`persona-mcp serve --transport http` opens the store, the audit log and the token checks, starts
listening, and imports and opens the catalogue and the call pipeline meanwhile (`server/run.py`,
`server/core.py`; issue 18, cold start). These tests hold the catalogue's import on its worker thread
and pin what must not change while it is held: a session opens (its bearer token checked), every other
request waits and is then served by the assembled server, and a catalogue that cannot open stops the
server with its error.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.config import Settings
from persona_mcp.server import front, run
from persona_mcp.server.app import open_server
from persona_mcp.server.serving import free_port
from persona_mcp.testing import issue_grant, sandbox_settings
from persona_mcp.tools.registry import UnknownToolError

pytestmark = pytest.mark.anyio

ACCEPT = {"Accept": "application/json, text/event-stream"}


async def _granted(tmp_path: Path) -> tuple[Settings, str]:
    """A migrated data directory holding a grant for `accounts:read`, and that grant's token."""
    settings = sandbox_settings(tmp_path / "data")
    async with open_server(settings, transport="http", resource_url="http://127.0.0.1/mcp") as app:
        token = await issue_grant(app, ["accounts:read"], principal="deferred-start")
    return settings, token


@contextmanager
def _catalogue_held(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The catalogue's import waits on its worker thread until the event is set."""
    release = threading.Event()
    importing = front.import_stack

    def held() -> None:
        release.wait(60)
        importing()

    monkeypatch.setattr(front, "import_stack", held)
    try:
        yield release
    finally:
        release.set()


@asynccontextmanager
async def _serving(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, exposure: dict[str, Any] | None = None
) -> AsyncIterator[tuple[str, list[BaseException]]]:
    """`run_http` on a free port until the block exits; yields the /mcp URL and what it raised."""
    servers: list[run._GracefulServer] = []

    class Recorded(run._GracefulServer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            servers.append(self)

    monkeypatch.setattr(run, "_GracefulServer", Recorded)
    port, raised = free_port(), []

    async def serve() -> None:
        try:
            await run.run_http(settings, exposure or {}, host="127.0.0.1", port=port)
        except Exception as exc:
            raised.append(exc)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(serve)
        with anyio.fail_after(30):
            while not (servers and servers[0].started) and not raised:
                await anyio.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{port}/mcp", raised
        finally:
            for server in servers:
                server.should_exit = True


@asynccontextmanager
async def _client(url: str, token: str) -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            yield client


async def test_a_session_opens_while_the_catalogue_is_held_and_its_requests_wait_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, token = await _granted(tmp_path)
    with _catalogue_held(monkeypatch) as release:
        async with _serving(settings, monkeypatch) as (url, raised), _client(url, token) as client:
            assert client.server_info is not None and client.server_info.name == "persona-mcp"
            listed: list[str] = []
            results: list[CallToolResult] = []

            async def list_tools() -> None:
                listed.extend(tool.name for tool in (await client.list_tools()).tools)

            async def call_a_tool() -> None:
                results.append(await client.call_tool("get_account", {"account_id": "not-an-account-id"}))

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(list_tools)
                tasks.start_soon(call_a_tool)
                await anyio.sleep(0.5)
                assert (listed, results) == ([], []), "a listing and a call wait until the catalogue is open"
                release.set()
            assert "get_account" in listed and "create_account" not in listed, "the grant's tools only"
            [result] = results
            assert result.is_error and "account_id" in str(result.content), "the pipeline validated it"
        assert raised == []


async def test_a_refused_token_is_answered_once_its_denial_is_recorded_by_the_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 401 ends in a denial record (naming the tool's scope), which the pipeline writes: a token
    refused while the catalogue is held is answered once it is open, never without its record."""
    settings, _token = await _granted(tmp_path)
    answers: list[int] = []
    with _catalogue_held(monkeypatch) as release:
        async with _serving(settings, monkeypatch) as (url, raised):
            async with httpx2.AsyncClient(timeout=30) as http:

                async def refused_call() -> None:
                    answer = await http.post(
                        url,
                        json={
                            "jsonrpc": "2.0",
                            "id": 1,
                            "method": "tools/call",
                            "params": {"name": "get_account", "arguments": {}},
                        },
                        headers={"Authorization": "Bearer not-a-grant-token", **ACCEPT},
                    )
                    answers.append(answer.status_code)

                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(refused_call)
                    await anyio.sleep(0.5)
                    assert answers == [], "the refusal waits for its record"
                    release.set()
        assert answers == [401] and raised == []
    async with open_server(settings, transport="memory") as reopened:
        denied = [r async for r in iter_records(reopened.store, AuditFilter(kind="call.denied"))]
    assert [(r.tool, r.scope, (r.reason or "")[:16]) for r in denied] == [
        ("get_account", "accounts:read", "unauthenticated:")
    ]


async def test_a_catalogue_that_cannot_open_stops_the_server_with_its_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, _token = await _granted(tmp_path)
    with anyio.fail_after(30):
        async with _serving(settings, monkeypatch, {"tools": frozenset({"no_such_tool"})}) as (_url, raised):
            while not raised:
                await anyio.sleep(0.01)
    assert isinstance(raised[0], UnknownToolError) and "no_such_tool" in str(raised[0])
