"""One schema snapshot per tool: any change to a tool's contract shows up as a reviewable diff.

Rewrite the snapshots after an intended change with `UPDATE_TOOLSNAPS=1 pytest tests/tools`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from persona_mcp.tools import CATALOGUE
from persona_mcp.tools.mcp_schema import input_schema, output_schema
from persona_mcp.tools.spec import ToolSpec

SNAPSHOTS = Path(__file__).parent / "__toolsnaps__"
UPDATE = os.environ.get("UPDATE_TOOLSNAPS") == "1"


def _snapshot(spec: ToolSpec[Any, Any]) -> str:
    hints = spec.annotations
    document = {
        "name": spec.name,
        "title": spec.title,
        "toolset": spec.toolset,
        "scope": spec.scope.value,
        "effect": spec.effect.value,
        "annotations": {
            "readOnlyHint": hints.read_only,
            "destructiveHint": hints.destructive,
            "idempotentHint": hints.idempotent,
            "openWorldHint": hints.open_world,
        },
        "operations": list(spec.operations),
        "description": spec.description,
        "inputSchema": input_schema(spec),
        "outputSchema": output_schema(spec),
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


@pytest.mark.parametrize("spec", CATALOGUE, ids=lambda spec: spec.name)
def test_tool_schema_matches_its_snapshot(spec: ToolSpec[Any, Any]) -> None:
    path = SNAPSHOTS / f"{spec.name}.json"
    current = _snapshot(spec)
    if UPDATE:
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(current, encoding="utf-8")
    assert path.exists(), f"no snapshot for {spec.name}; run with UPDATE_TOOLSNAPS=1 and review the file"
    assert path.read_text(encoding="utf-8") == current, (
        f"{spec.name} changed its contract; review and rerun with UPDATE_TOOLSNAPS=1"
    )


def test_every_snapshot_belongs_to_a_tool_in_the_catalogue() -> None:
    names = {spec.name for spec in CATALOGUE}
    if UPDATE:
        for orphan in SNAPSHOTS.glob("*.json"):
            if orphan.stem not in names:
                orphan.unlink()
    orphans = sorted(path.stem for path in SNAPSHOTS.glob("*.json") if path.stem not in names)
    assert orphans == [], f"snapshots without a tool (renamed or removed?): {orphans}"
