"""A tool's MCP declaration (its JSON schemas) is built when it is first listed, never at start.

Generating the schemas of the whole default catalogue took ~60 ms of every server's start before it
could answer `initialize` (issue 18's cold start); a caller whose grant names a few tools now pays for
those alone, once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import persona_mcp.server.app as app_module
from persona_mcp.auth.scopes import Scope
from persona_mcp.testing import connected
from persona_mcp.tools import CATALOGUE, mcp_schema

pytestmark = pytest.mark.anyio


async def test_declarations_are_built_on_first_listing_and_only_for_the_tools_the_caller_sees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    real = mcp_schema.to_mcp_tool

    def counted(spec: Any) -> Any:
        built.append(spec.name)
        return real(spec)

    monkeypatch.setattr(mcp_schema, "to_mcp_tool", counted)
    monkeypatch.setattr(app_module, "to_mcp_tool", counted, raising=False)  # where it was called before
    async with connected(tmp_path, [Scope.ACCOUNTS_READ]) as harness:
        assert built == [], "the server built tool declarations before any caller listed them"
        listed = await harness.client.list_tools()
        names = [tool.name for tool in listed.tools]
        assert "get_account" in names
        assert sorted(built) == sorted(names)
        assert len(names) < len(CATALOGUE), "the grant should see part of the catalogue only"
        again = await harness.client.list_tools()
        assert again.tools == listed.tools
        assert len(built) == len(names), "a declaration was built twice"
        missing = {"account_id": "act_missing000000000000000000"}
        result = await harness.client.call_tool("get_account", missing)
        assert result.is_error  # answered (not found upstream) without building anything more
        assert len(built) == len(names)


def test_a_listed_declaration_is_the_one_the_spec_declares() -> None:
    specs = CATALOGUE
    listed = mcp_schema.ListedTools(specs)
    for spec in specs:
        assert listed[spec.name] == mcp_schema.to_mcp_tool(spec)
    assert listed.get("no_such_tool") is None
    with pytest.raises(KeyError):
        listed["no_such_tool"]
