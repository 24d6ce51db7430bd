"""docs/access.md lists every write tool's approval policy, generated from the declarations."""

from __future__ import annotations

from pathlib import Path

from persona_mcp.tools import CATALOGUE
from persona_mcp.tools.approval_docs import render_approval_markdown, section_of

DOCS = Path(__file__).resolve().parents[2] / "docs" / "access.md"


def test_the_approval_table_in_docs_access_md_is_current() -> None:
    assert section_of(DOCS.read_text(encoding="utf-8")) == render_approval_markdown(CATALOGUE), (
        "docs/access.md is stale: run `python -m persona_mcp.tools.approval_docs`"
    )


def test_the_table_names_every_write_tool_and_no_read_tool() -> None:
    table = render_approval_markdown(CATALOGUE)
    for spec in CATALOGUE:
        assert (f"| `{spec.name}` |" in table) == spec.is_write, spec.name
    assert "| `redact_account` | `accounts:delete` | destructive | **required** |" in table
    assert "| `create_account` | `accounts:write` | write | **none** |" in table
