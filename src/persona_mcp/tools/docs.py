"""`docs/tools.md`, rendered from the catalogue so the documentation cannot drift from the code.

A staleness test compares the committed file with this render; regenerate with
`persona-mcp tools --write-docs` or `PERSONA_MCP_UPDATE_DOCS=1 pytest tests/tools`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from persona_mcp.auth.scopes import DESCRIPTIONS
from persona_mcp.tools.registry import Catalogue
from persona_mcp.tools.spec import ToolSpec


def _scopes(spec: ToolSpec[Any, Any]) -> str:
    # An unmaskable result (a PDF) needs pii:read besides the tool's own scope.
    return f"`{spec.scope.value}` + `pii:read`" if spec.unmaskable else f"`{spec.scope.value}`"


def _hints(spec: ToolSpec[Any, Any]) -> str:
    hints = spec.annotations
    flags = [
        ("read-only", hints.read_only),
        ("destructive", hints.destructive),
        ("idempotent", hints.idempotent),
        ("open-world", hints.open_world),
    ]
    return ", ".join(name for name, on in flags if on) or "-"


def _summary(spec: ToolSpec[Any, Any]) -> str:
    return spec.description.splitlines()[0].replace("|", "\\|")


def _operations(spec: ToolSpec[Any, Any]) -> str:
    if not spec.operations:
        return "- (this server)"
    if len(spec.operations) > 3:
        family = spec.operations[0].split(".")[0]
        return f"{len(spec.operations)} `{family}.*` operations"
    return ", ".join(f"`{op}`" for op in spec.operations)


def render(catalogue: Catalogue, tier1_operations: Iterable[str]) -> str:
    """The whole Markdown page."""
    tier1 = list(tier1_operations)
    covered = catalogue.covered_operations()
    reached = [op for op in tier1 if op in covered]
    lines = [
        "# Tools",
        "",
        "<!-- Generated from src/persona_mcp/tools by `persona-mcp tools --write-docs`; do not edit. -->",
        "",
        f"Coverage: {len(reached)} of {len(tier1)} tier-1 Persona operations -> {len(catalogue)} tools.",
        "",
        "Effect decides the MCP annotations and the scope suffix: `read` -> `<family>:read`, `write` -> "
        "`<family>:write`, `destructive` -> `<family>:delete` (decisions: `inquiries:decide`).",
        "",
    ]
    for toolset in catalogue.toolsets:
        lines += [
            f"## {toolset}",
            "",
            "| Tool | Summary | Scope | Effect | Annotations | Persona operations |",
            "|---|---|---|---|---|---|",
        ]
        for spec in catalogue.in_toolset(toolset):
            lines.append(
                f"| `{spec.name}` | {_summary(spec)} | {_scopes(spec)} | {spec.effect.value} | "
                f"{_hints(spec)} | {_operations(spec)} |"
            )
        lines.append("")
    lines += ["## Scopes", "", "| Scope | Opens | Tools |", "|---|---|---|"]
    for scope, specs in catalogue.by_scope().items():
        names = ", ".join(f"`{spec.name}`" for spec in specs)
        lines.append(f"| `{scope.value}` | {DESCRIPTIONS[scope]} | {names} |")
    missing = [op for op in tier1 if op not in covered]
    if missing:
        lines += ["", "## Not covered", "", *(f"- `{op}`" for op in missing)]
    return "\n".join(lines) + "\n"
