"""One schema snapshot per tool: any change to a tool's contract shows up as a reviewable diff.

`persona-mcp docs generate` writes the snapshots (`persona_mcp.tools.snapshots`); these tests compare
each with the tool as declared now, one test per tool so a failure names it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from persona_mcp.cli.docs import generate
from persona_mcp.tools import CATALOGUE
from persona_mcp.tools.snapshots import SNAPSHOT_DIR, snapshot
from persona_mcp.tools.spec import ToolSpec

ROOT = Path(__file__).parents[2]
SNAPSHOTS = ROOT / SNAPSHOT_DIR


@pytest.mark.parametrize("spec", CATALOGUE, ids=lambda spec: spec.name)
def test_tool_schema_matches_its_snapshot(spec: ToolSpec[Any, Any]) -> None:
    path = SNAPSHOTS / f"{spec.name}.json"
    assert path.exists(), f"no snapshot for {spec.name}; run `persona-mcp docs generate` and review the file"
    assert path.read_text(encoding="utf-8") == snapshot(spec), (
        f"{spec.name} changed its contract; review and run `persona-mcp docs generate`"
    )


def test_every_snapshot_belongs_to_a_tool_in_the_catalogue() -> None:
    orphans = generate(ROOT).orphans
    assert orphans == [], f"snapshots without a tool (renamed or removed?): {orphans}"
