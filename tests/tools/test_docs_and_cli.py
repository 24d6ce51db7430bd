"""docs/tools.md is the catalogue rendered; the reviewer CLI prints the same data."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from persona_mcp.cli.docs import TOOLS_MD, generate, stale_files
from persona_mcp.cli.tools import app
from persona_mcp.tools import catalogue

ROOT = Path(__file__).parents[2]


def test_docs_tools_md_is_up_to_date() -> None:
    assert TOOLS_MD not in stale_files(ROOT), "docs/tools.md is stale: run `persona-mcp docs generate`"
    rendered = generate(ROOT).files[TOOLS_MD]
    assert f"94 of 94 tier-1 Persona operations -> {len(catalogue)} tools" in rendered


def test_docs_tools_md_has_one_heading_per_toolset_from_its_declaration() -> None:
    rendered = generate(ROOT).files[TOOLS_MD]
    for toolset_id in catalogue.toolsets:
        toolset = catalogue.toolset(toolset_id)
        offered = "default" if toolset.default else "opt-in"
        assert f"## {toolset.title} (`{toolset.id}`, {offered})\n\n{toolset.description}\n" in rendered
    assert "**Why these defaults.**" in rendered


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


def test_cli_table() -> None:
    table = CliRunner().invoke(app, [])
    assert table.exit_code == 0 and "94 of 94" in table.output.replace("\n", " ")
