"""`audit tail` shows what callers chose as plain text: no Rich markup, no terminal control sequences."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from persona_mcp.audit import AuditEvent, AuditLog
from persona_mcp.cli.audit import app
from persona_mcp.store import create_store, upgrade

runner = CliRunner()

LINKED_TOOL = "[link=http://evil.example]x[/link]"
STYLED_PRINCIPAL = "[bold red]root[/]"
OSC8_PRINCIPAL = "\x1b]8;;http://evil.example\x1b\\agent"


async def _seed(url: str, data_dir: Path, events: list[AuditEvent]) -> None:
    store = create_store(url)
    await upgrade(store)
    log = await AuditLog.open(store, data_dir=data_dir, instance_id="tail-test")
    try:
        for event in events:
            await log.append(event)
    finally:
        await log.aclose()
        await store.close()


@pytest.fixture
def seeded(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("PERSONA_MCP_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PERSONA_MCP_DATABASE_URL", sqlite_url)
    monkeypatch.delenv("PERSONA_MCP_CONFIG", raising=False)
    events = [
        AuditEvent(kind="call.denied", call_id="c-1", tool=LINKED_TOOL, principal=STYLED_PRINCIPAL),
        AuditEvent(kind="call.denied", call_id="c-2", tool="get_account", principal=OSC8_PRINCIPAL),
    ]
    anyio.run(_seed, sqlite_url, data_dir, events)


@pytest.mark.parametrize("terminal", [False, True], ids=["piped", "terminal"])
def test_tail_prints_a_tool_name_carrying_markup_as_the_literal_text(
    seeded: None, terminal: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if terminal:
        monkeypatch.setenv("FORCE_COLOR", "1")  # Rich then writes styles and hyperlinks, as on a terminal
    result = runner.invoke(app, ["tail", "-n", "2"])
    assert result.exit_code == 0, result.output
    assert LINKED_TOOL in result.output
    assert STYLED_PRINCIPAL in result.output
    assert "\x1b]8;" not in result.output, "a caller-chosen value became a terminal hyperlink"


def test_tail_shows_control_characters_escaped_instead_of_sending_them_to_the_terminal(
    seeded: None,
) -> None:
    result = runner.invoke(app, ["tail", "-n", "1"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output
    assert "\\x1b]8;;http://evil.example" in result.output
