"""The stdio front answers `initialize` at once and hands every other request to the assembled server.

The front exists so a desktop client is not kept waiting for the store, the audit log and the tool
catalogue (see `persona_mcp/server/stdio.py`); these tests pin what it must never change: the identity
and capabilities a client sees, and that no request is served except by the assembled server, or refused
when the stack could not open.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from persona_mcp.server.front import FORWARDED, StackSlot, front_server
from persona_mcp.testing import connected

pytestmark = pytest.mark.anyio

#: Requests every SDK server answers itself.
_OWN = {"ping", "server/discover"}


async def test_the_front_introduces_itself_exactly_as_the_assembled_server(tmp_path: Path) -> None:
    async with connected(tmp_path, ["accounts:read"]) as harness:
        assembled = harness.app.server
        front = front_server(StackSlot())
        assert front.create_initialization_options() == assembled.create_initialization_options()
        assert set(front._request_handlers) == set(assembled._request_handlers), (
            "the front must forward exactly the requests the assembled server handles (FORWARDED)"
        )
        assert set(FORWARDED) == set(assembled._request_handlers) - _OWN


async def test_the_front_gives_the_sdk_the_assembled_servers_input_schemas_once_it_is_open(
    tmp_path: Path,
) -> None:
    """Over HTTP the SDK checks a tool call's Mcp-Param headers against the tool's input schema, which
    it asks the front for; without an answer it would run the caller's whole tool listing on each call."""
    slot = StackSlot()
    front = front_server(slot)
    assert front.get_tool_input_schema is not None
    assert front.get_tool_input_schema("get_account") is None  # tool calls wait for the catalogue
    async with connected(tmp_path, ["accounts:read"]) as harness:
        slot.open(harness.app)
        assembled = harness.app.server.get_tool_input_schema
        assert assembled is not None
        assert front.get_tool_input_schema("get_account") == assembled("get_account") is not None
        assert front.get_tool_input_schema("no_such_tool") is None


async def test_initialize_is_answered_before_the_stack_opens_and_requests_wait_for_it(tmp_path: Path) -> None:
    slot = StackSlot()
    async with connected(tmp_path, ["accounts:read"]) as harness:
        expected = {tool.name for tool in (await harness.client.list_tools()).tools}
        with anyio.fail_after(30):
            async with Client(front_server(slot)) as client:
                assert client.server_info is not None and client.server_info.name == "persona-mcp"
                listed: list[str] = []

                async def list_tools() -> None:
                    listed.extend(tool.name for tool in (await client.list_tools()).tools)

                async with anyio.create_task_group() as tg:
                    tg.start_soon(list_tools)
                    await anyio.wait_all_tasks_blocked()
                    assert listed == [], "a request waits until the stack is open"
                    slot.open(harness.app)
                assert set(listed) == expected
                result = await client.call_tool("get_account", {"account_id": "act_does_not_exist"})
                assert result.is_error, "calls go through the assembled server's pipeline"


async def test_requests_are_refused_when_the_stack_cannot_open() -> None:
    slot = StackSlot()
    with anyio.fail_after(30):
        async with Client(front_server(slot)) as client:
            slot.fail(RuntimeError("the audit store cannot be written"))
            with pytest.raises(MCPError, match="could not start"):
                await client.list_tools()
            with pytest.raises(MCPError, match="could not start"):
                await client.call_tool("list_accounts", {})
