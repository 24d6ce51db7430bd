"""The whole `tools/list` answer must stay small: every byte of it sits in the agent's context."""

from __future__ import annotations

import json
from typing import Any

from persona_mcp.tools import catalogue
from persona_mcp.tools.mcp_schema import to_mcp_tool
from persona_mcp.tools.spec import ToolSpec

BUDGET = 64 * 1024
#: Toolsets added in wave 3 (issue 19): exposed by toolset, each held to its own budget in
#: tests/tools/test_reviewer_families.py; the toolset values of issue 19 replace this split at merge.
NEW_TOOLSETS = frozenset({"reports", "cases", "verifications", "business_verifications"})
#: The one wave-3 tool inside a tier-1 toolset (inquiries).
NEW_TOOLS = frozenset({"wait_for_inquiry"})


def _listing_bytes(specs: list[ToolSpec[Any, Any]]) -> int:
    tools = [to_mcp_tool(spec).model_dump(by_alias=True, exclude_none=True, mode="json") for spec in specs]
    return len(json.dumps({"tools": tools}, separators=(",", ":"), ensure_ascii=False).encode())


def _tier1_toolsets() -> set[str]:
    return set(catalogue.toolsets) - NEW_TOOLSETS


def test_full_catalogue_listing_fits_in_64_kib() -> None:
    specs = catalogue.select(toolsets=_tier1_toolsets(), exclude=set(NEW_TOOLS))
    size = _listing_bytes(specs)
    print(f"tools/list, the {len(specs)} tools of the tier-1 toolsets: {size} bytes")
    print(f"tools/list, all {len(catalogue)} tools: {_listing_bytes(list(catalogue))} bytes")
    assert size < BUDGET


def test_default_exposure_and_read_only_listings_fit_in_64_kib() -> None:
    default = catalogue.select(toolsets=_tier1_toolsets(), exclude=set(NEW_TOOLS))
    read_only = catalogue.select(toolsets=_tier1_toolsets(), exclude=set(NEW_TOOLS), read_only=True)
    print(f"tools/list, default exposure ({len(default)} tools): {_listing_bytes(default)} bytes")
    print(f"tools/list, read-only mode ({len(read_only)} tools): {_listing_bytes(read_only)} bytes")
    assert _listing_bytes(read_only) < _listing_bytes(default) < BUDGET


def test_every_tool_lists_an_output_schema_including_write_tools() -> None:
    for spec in catalogue:
        declared = to_mcp_tool(spec).output_schema
        assert declared is not None and declared.get("type") == "object", spec.name
    approve = to_mcp_tool(catalogue.get("approve_inquiry")).output_schema
    assert approve is not None and approve["required"] == ["id", "type"]
