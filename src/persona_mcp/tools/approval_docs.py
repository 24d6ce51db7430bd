"""The approval policy table in docs/access.md, generated from the tool declarations.

`render_approval_markdown(CATALOGUE)` is the text between `<!-- approvals:start -->` and
`<!-- approvals:end -->`: every write tool, its declared policy and why (read tools never need approval).
A test fails when the document is stale. `persona-mcp docs generate` (`cli/docs.py`) rewrites it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from persona_mcp.auth.approval_policy import ApprovalPolicy
from persona_mcp.tools.spec import ToolSpec

START = "<!-- approvals:start -->"
END = "<!-- approvals:end -->"


def _why(spec: ToolSpec[Any, Any]) -> str:
    if spec.approval is not None:
        return "declared on the tool"
    if spec.effect.value == "destructive":
        return "destructive"
    if spec.approval_policy is ApprovalPolicy.REQUIRED:
        return f"decision or delete scope `{spec.scope.value}`"
    return "-"


def render_approval_markdown(catalogue: Iterable[ToolSpec[Any, Any]]) -> str:
    """One row per write tool: name, scope, effect, declared approval policy, and what it follows from."""
    lines = ["| Tool | Scope | Effect | Approval | Because |", "|---|---|---|---|---|"]
    for spec in catalogue:
        if not spec.is_write:
            continue
        lines.append(
            f"| `{spec.name}` | `{spec.scope.value}` | {spec.effect.value} | "
            f"**{spec.approval_policy.value}** | {_why(spec)} |"
        )
    return "\n".join(lines) + "\n"


def replace_section(document: str, section: str) -> str:
    try:
        head, rest = document.split(START, 1)
        _old, tail = rest.split(END, 1)
    except ValueError:
        raise ValueError(f"the document lacks the {START} ... {END} markers") from None
    return f"{head}{START}\n{section}{END}{tail}"


def section_of(document: str) -> str:
    return document.split(START, 1)[1].split(END, 1)[0].removeprefix("\n")
