"""The approval policy table in docs/access.md, generated from the tool declarations.

`render_approval_markdown(CATALOGUE)` is the text between `<!-- approvals:start -->` and
`<!-- approvals:end -->`: every write tool, its declared policy and why (read tools never need approval).
A test fails when the document is stale. Regenerate with `python -m persona_mcp.tools.approval_docs`, or
from the docs generator through `write_approval_docs(path)`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
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


def write_approval_docs(path: Path) -> None:
    """Rewrite the approval table of the document at `path` from the catalogue."""
    from persona_mcp.tools import CATALOGUE

    path.write_text(replace_section(path.read_text(encoding="utf-8"), render_approval_markdown(CATALOGUE)))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    write_approval_docs(Path(args[0]) if args else Path("docs/access.md"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
