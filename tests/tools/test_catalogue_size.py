"""The whole `tools/list` answer must stay small: every byte of it sits in the agent's context."""

from __future__ import annotations

import json
from typing import Any

from persona_mcp.tools import catalogue
from persona_mcp.tools.mcp_schema import to_mcp_tool
from persona_mcp.tools.spec import ToolSpec

BUDGET = 64 * 1024
TOOLSET_BUDGET = 24 * 1024
#: The families before issue 19. The second-tier families (documents, transactions, ...) are opt-in
#: toolsets there, outside the default surface; until the toolset values of issue 19 land, these two
#: budget checks read the first-tier toolsets, and every toolset is held to its own budget below.
FIRST_TIER_TOOLSETS = {
    "accounts",
    "inquiries",
    "inquiry_sessions",
    "lists",
    "list_items",
    "webhooks",
    "events",
    "audit",
}


def _listing_bytes(specs: list[ToolSpec[Any, Any]]) -> int:
    tools = [to_mcp_tool(spec).model_dump(by_alias=True, exclude_none=True, mode="json") for spec in specs]
    return len(json.dumps({"tools": tools}, separators=(",", ":"), ensure_ascii=False).encode())


def test_full_first_tier_listing_fits_in_64_kib() -> None:
    first_tier = catalogue.select(toolsets=FIRST_TIER_TOOLSETS)
    size = _listing_bytes(first_tier)
    print(f"tools/list, all {len(first_tier)} first-tier tools: {size} bytes")
    assert size < BUDGET


def test_default_exposure_and_read_only_listings_fit_in_64_kib() -> None:
    default = catalogue.select(toolsets=FIRST_TIER_TOOLSETS)
    read_only = catalogue.select(toolsets=FIRST_TIER_TOOLSETS, read_only=True)
    print(f"tools/list, default exposure ({len(default)} tools): {_listing_bytes(default)} bytes")
    print(f"tools/list, read-only mode ({len(read_only)} tools): {_listing_bytes(read_only)} bytes")
    assert _listing_bytes(read_only) < _listing_bytes(default) < BUDGET


def test_every_tool_lists_an_output_schema_including_write_tools() -> None:
    for spec in catalogue:
        declared = to_mcp_tool(spec).output_schema
        assert declared is not None and declared.get("type") == "object", spec.name
    approve = to_mcp_tool(catalogue.get("approve_inquiry")).output_schema
    assert approve is not None and approve["required"] == ["id", "type"]


def test_each_toolset_listing_fits_in_24_kib() -> None:
    toolsets = sorted({spec.toolset for spec in catalogue})
    sizes = {name: _listing_bytes(catalogue.select(toolsets={name})) for name in toolsets}
    for name, size in sizes.items():
        print(f"tools/list, toolset {name}: {size} bytes")
    assert {name for name, size in sizes.items() if size > TOOLSET_BUDGET} == set()
    second_tier = {"documents", "transactions", "logs", "importers", "workflows", "templates", "devices"}
    assert second_tier | {"rate_limits"} <= set(sizes)
