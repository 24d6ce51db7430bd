"""docs/tools.md is the catalogue rendered; the reviewer CLI prints the same data."""

from __future__ import annotations

import json
import os
from pathlib import Path

from typer.testing import CliRunner

from persona_mcp.cli.tools import app
from persona_mcp.tools import catalogue
from persona_mcp.tools.contract import tier1_operation_ids
from persona_mcp.tools.docs import render

DOCS = Path(__file__).parents[2] / "docs" / "tools.md"


def test_docs_tools_md_is_up_to_date() -> None:
    rendered = render(catalogue, tier1_operation_ids())
    if os.environ.get("PERSONA_MCP_UPDATE_DOCS") == "1":
        DOCS.write_text(rendered, encoding="utf-8")
    assert DOCS.read_text(encoding="utf-8") == rendered, (
        "docs/tools.md is stale: run `persona-mcp tools --write-docs docs/tools.md`"
    )
    assert f"94 of 94 tier-1 Persona operations -> {len(catalogue)} tools" in rendered


def test_cli_prints_every_tool_as_json() -> None:
    result = CliRunner().invoke(app, ["--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [row["name"] for row in rows] == catalogue.names
    assert next(r for r in rows if r["name"] == "redact_account")["scope"] == "accounts:delete"


def test_cli_scopes_shows_which_tools_each_scope_opens() -> None:
    result = CliRunner().invoke(app, ["scopes", "--json"])
    assert result.exit_code == 0, result.output
    grouped = json.loads(result.output)
    assert grouped["inquiries:decide"] == ["approve_inquiry", "decline_inquiry", "mark_inquiry_for_review"]


def test_cli_table_and_docs_writer(tmp_path: Path) -> None:
    table = CliRunner().invoke(app, [])
    assert table.exit_code == 0 and "94 of 94" in table.output.replace("\n", " ")
    target = tmp_path / "tools.md"
    written = CliRunner().invoke(app, ["--write-docs", str(target)])
    assert written.exit_code == 0 and target.read_text() == render(catalogue, tier1_operation_ids())
