"""Bytes of the tools/list answer as the server sends it, per grant and per toolset. Target: < 64 KiB.

    .venv/bin/python benchmarks/catalogue_size.py

Every figure comes from the running server (sandbox upstream, real SQLite file, a real grant, the SDK's
in-memory client), so per-caller filtering is included: it is the `ListToolsResult` the server returned,
serialised as on the wire (`model_dump_json(by_alias=True, exclude_none=True)`), without the JSON-RPC
envelope. Rows:
  every scope   a grant holding all scopes, default exposure (every toolset)
  read-only     a grant holding the default read-only scopes, default exposure
  <toolset>     the server exposing that toolset only; all-scope grant, and read-only grant
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import anyio

from persona_mcp.auth.scopes import DEFAULT_READ_ONLY, Scope
from persona_mcp.logs import configure_logging
from persona_mcp.server.callers import StaticTokenCallers
from persona_mcp.server.exposure import ExposureOptions
from persona_mcp.testing import Harness, connected, issue_grant
from persona_mcp.tools import CATALOGUE

BUDGET = 64 * 1024
EVERY_SCOPE = tuple(Scope)


@dataclass(frozen=True, slots=True)
class Listing:
    tools: int
    size: int


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    full: Listing
    read_only: Listing


async def _listing(harness: Harness, scopes: Iterable[Scope]) -> Listing:
    """What the server lists for a fresh grant with `scopes` (the connection stays; the caller changes)."""
    token = await issue_grant(harness.app, scopes, principal="catalogue-bench")
    assert isinstance(harness.app.caller_source, StaticTokenCallers)
    harness.app.caller_source.token = token
    result = await harness.client.list_tools()
    wire = result.model_dump_json(by_alias=True, exclude_none=True)
    return Listing(tools=len(result.tools), size=len(wire.encode()))


async def _row(name: str, data_dir: Path, exposure: ExposureOptions | None) -> Row:
    async with connected(data_dir, EVERY_SCOPE, exposure=exposure) as harness:
        full = await _listing(harness, EVERY_SCOPE)
        read_only = await _listing(harness, DEFAULT_READ_ONLY)
    return Row(name, full, read_only)


async def _rows() -> list[Row]:
    toolsets = list(dict.fromkeys(spec.toolset for spec in CATALOGUE))
    rows: list[Row] = []
    for name, exposure in [("all toolsets", None)] + [
        (toolset, ExposureOptions(toolsets=frozenset({toolset}))) for toolset in toolsets
    ]:
        with tempfile.TemporaryDirectory(prefix="persona-mcp-catalogue-") as tmp:
            rows.append(await _row(name, Path(tmp), exposure))
    return rows


def _print(rows: list[Row]) -> None:
    print(f"{'exposure':<18}{'every scope':>24}{'read-only grant':>26}")
    print(f"{'':<18}{'tools':>8}{'bytes':>10}{'KiB':>6}{'tools':>10}{'bytes':>10}{'KiB':>6}")
    for row in rows:
        print(
            f"{row.name:<18}{row.full.tools:>8}{row.full.size:>10,}{row.full.size / 1024:>6.1f}"
            f"{row.read_only.tools:>10}{row.read_only.size:>10,}{row.read_only.size / 1024:>6.1f}"
        )
    full = rows[0].full.size
    verdict = "meets" if full < BUDGET else "MISSES"
    print(f"\nfull catalogue (every scope): {full:,} bytes, {full / BUDGET:.0%} of {BUDGET:,}: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.parse_args()
    configure_logging("WARNING")
    _print(anyio.run(_rows))


if __name__ == "__main__":
    main()
