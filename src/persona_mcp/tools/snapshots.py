"""One schema snapshot per tool: any change to a tool's contract shows up as a reviewable diff.

The snapshots live in tests/tools/__toolsnaps__/<tool>.json; `persona-mcp docs generate` writes them and
tests/tools/test_snapshots.py compares each with the tool as declared now.
"""

from __future__ import annotations

import json
from typing import Any

from persona_mcp.tools.mcp_schema import input_schema, output_schema
from persona_mcp.tools.spec import ToolSpec

#: Where the snapshots live, relative to the repository root.
SNAPSHOT_DIR = "tests/tools/__toolsnaps__"


def snapshot(spec: ToolSpec[Any, Any]) -> str:
    """The tool's whole contract as stable JSON: posture, operations, description and both schemas."""
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
