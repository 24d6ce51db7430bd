"""Every byte of `tools/list` sits in the agent's context: the budgets, on what the server really sends.

Measured on the running server (sandbox upstream, SQLite file, a real grant, the SDK's in-memory client),
so exposure and per-caller filtering are included, and serialised as on the wire. Budgets (issue 19):
- the default toolsets, listed to a grant holding every scope: at most 64 KiB;
- the default toolsets, listed read-only (the default read-only grant, or read-only mode): at most 24 KiB;
- any single toolset, listed to a grant holding every scope: at most 24 KiB.
`benchmarks/catalogue_size.py` prints the same figures for every toolset and the full surface.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import mcp_types as types
import pytest

from persona_mcp.auth.scopes import DEFAULT_READ_ONLY, Scope
from persona_mcp.server.exposure import ExposureOptions
from persona_mcp.testing import connected, listed_as, wire_bytes
from persona_mcp.tools import catalogue
from persona_mcp.tools.mcp_schema import to_mcp_tool

KIB = 1024
DEFAULT_BUDGET = 64 * KIB
READ_ONLY_BUDGET = 24 * KIB
TOOLSET_BUDGET = 24 * KIB

pytestmark = pytest.mark.anyio


@dataclass(frozen=True, slots=True)
class Listings:
    default_every_scope: types.ListToolsResult
    default_read_only_grant: types.ListToolsResult
    default_read_only_mode: types.ListToolsResult
    everything: types.ListToolsResult


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def listings(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Listings]:
    every = list(Scope)
    async with connected(tmp_path_factory.mktemp("default"), every, exposure=ExposureOptions()) as h:
        default_every_scope = await listed_as(h, every)
        default_read_only_grant = await listed_as(h, DEFAULT_READ_ONLY)
    read_only = ExposureOptions(read_only=True)
    async with connected(tmp_path_factory.mktemp("read-only"), every, exposure=read_only) as h:
        default_read_only_mode = await listed_as(h, every)
    async with connected(tmp_path_factory.mktemp("all"), every, exposure=ExposureOptions.everything()) as h:
        everything = await listed_as(h, every)
    yield Listings(default_every_scope, default_read_only_grant, default_read_only_mode, everything)


def _names(result: types.ListToolsResult) -> set[str]:
    return {tool.name for tool in result.tools}


async def test_the_server_offers_the_default_toolsets_unless_told_otherwise(listings: Listings) -> None:
    defaults = {spec.name for spec in catalogue if spec.toolset in catalogue.default_toolsets}
    assert _names(listings.default_every_scope) == defaults
    assert "create_webhook" not in defaults and "query_audit_log" not in defaults
    assert _names(listings.everything) == set(catalogue.names)


async def test_default_surface_for_an_every_scope_grant_fits_in_64_kib(listings: Listings) -> None:
    size = wire_bytes(listings.default_every_scope)
    print(f"default surface, every scope: {len(listings.default_every_scope.tools)} tools, {size} bytes")
    assert size <= DEFAULT_BUDGET


async def test_read_only_default_surface_fits_in_24_kib(listings: Listings) -> None:
    for listed in (listings.default_read_only_grant, listings.default_read_only_mode):
        size = wire_bytes(listed)
        print(f"read-only default surface: {len(listed.tools)} tools, {size} bytes")
        assert listed.tools and size <= READ_ONLY_BUDGET


async def test_every_toolset_alone_fits_in_24_kib(listings: Listings) -> None:
    for toolset in catalogue.toolsets:
        names = [spec.name for spec in catalogue.in_toolset(toolset)]
        assert set(names) <= _names(listings.everything)
        size = wire_bytes(listings.everything, only=names)
        print(f"toolset {toolset}: {len(names)} tools, {size} bytes")
        assert size <= TOOLSET_BUDGET, f"toolset {toolset} lists {size} bytes"


def _or(value: bool | None, absent: bool) -> bool:
    return absent if value is None else value


def test_hints_left_out_of_the_listing_read_as_the_declared_ones_with_the_specs_defaults() -> None:
    """Only hints that differ from MCP's defaults for absent ones (the cautious values) are listed."""
    for spec in catalogue:
        listed = to_mcp_tool(spec).annotations
        declared = spec.annotations
        assert listed is not None
        assert _or(listed.read_only_hint, False) is declared.read_only, spec.name
        assert _or(listed.open_world_hint, True) is declared.open_world, spec.name
        if not declared.read_only:
            assert _or(listed.destructive_hint, True) is declared.destructive, spec.name
            assert _or(listed.idempotent_hint, False) is declared.idempotent, spec.name


def test_every_tool_lists_an_output_schema_including_write_tools() -> None:
    for spec in catalogue:
        declared = to_mcp_tool(spec).output_schema
        assert declared is not None and declared.get("type") == "object", spec.name
    approve = to_mcp_tool(catalogue.get("approve_inquiry")).output_schema
    assert approve is not None and approve["required"] == ["id", "type"]
