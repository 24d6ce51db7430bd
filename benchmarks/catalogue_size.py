"""Bytes of the tools/list answer as the server sends it: the default surface, each toolset, everything.

    .venv/bin/python benchmarks/catalogue_size.py

Every figure comes from the running server (sandbox upstream, real SQLite file, a real grant, the SDK's
in-memory client), so per-caller filtering is included: it is the `ListToolsResult` the server returned,
serialised as on the wire (`model_dump_json(by_alias=True, exclude_none=True)`), without the JSON-RPC
envelope. Rows, each for a grant holding every scope and for the default read-only grant:
  default       the server as `persona-mcp serve` starts it: the default toolsets
  <toolset>     the server exposing that toolset only (`--toolsets <toolset>`)
  all toolsets  the full surface (`--toolsets all`)
Budgets (tests/tools/test_catalogue_size.py): default surface, every scope <= 64 KiB; default surface,
read-only <= 24 KiB; any single toolset <= 24 KiB.
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
from persona_mcp.server.exposure import ExposureOptions
from persona_mcp.testing import Harness, connected, listed_as, wire_bytes
from persona_mcp.tools import catalogue

KIB = 1024
DEFAULT_BUDGET = 64 * KIB
READ_ONLY_BUDGET = 24 * KIB
TOOLSET_BUDGET = 24 * KIB
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
    result = await listed_as(harness, scopes)
    return Listing(tools=len(result.tools), size=wire_bytes(result))


async def _row(name: str, data_dir: Path, exposure: ExposureOptions | None) -> Row:
    async with connected(data_dir, EVERY_SCOPE, exposure=exposure) as harness:
        full = await _listing(harness, EVERY_SCOPE)
        read_only = await _listing(harness, DEFAULT_READ_ONLY)
    return Row(name, full, read_only)


async def _rows() -> list[Row]:
    exposures = [("default", ExposureOptions())]
    exposures += [(toolset, ExposureOptions(toolsets=frozenset({toolset}))) for toolset in catalogue.toolsets]
    exposures.append(("all toolsets", ExposureOptions.everything()))
    rows: list[Row] = []
    for name, exposure in exposures:
        with tempfile.TemporaryDirectory(prefix="persona-mcp-catalogue-") as tmp:
            rows.append(await _row(name, Path(tmp), exposure))
    return rows


def _verdict(size: int, budget: int) -> str:
    return f"{size:,} bytes, {size / budget:.0%} of {budget:,}: {'meets' if size <= budget else 'MISSES'}"


def _print(rows: list[Row]) -> None:
    print(f"{'exposure':<18}{'every scope':>24}{'read-only grant':>26}")
    print(f"{'':<18}{'tools':>8}{'bytes':>10}{'KiB':>6}{'tools':>10}{'bytes':>10}{'KiB':>6}")
    for row in rows:
        print(
            f"{row.name:<18}{row.full.tools:>8}{row.full.size:>10,}{row.full.size / 1024:>6.1f}"
            f"{row.read_only.tools:>10}{row.read_only.size:>10,}{row.read_only.size / 1024:>6.1f}"
        )
    default, *toolsets, everything = rows
    print(f"\ndefault surface, every scope: {_verdict(default.full.size, DEFAULT_BUDGET)}")
    print(f"default surface, read-only grant: {_verdict(default.read_only.size, READ_ONLY_BUDGET)}")
    largest = max(toolsets, key=lambda row: row.full.size)
    print(f"largest toolset ({largest.name}): {_verdict(largest.full.size, TOOLSET_BUDGET)}")
    print(f"full surface (--toolsets all, every scope): {everything.full.size:,} bytes (no budget)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.parse_args()
    configure_logging("WARNING")
    _print(anyio.run(_rows))


if __name__ == "__main__":
    main()
