"""Operational logs: one JSON format on stderr, with secret-bearing keys dropped."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from persona_mcp.logs import configure_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def test_structlog_and_library_records_are_json_lines_on_stderr_without_secrets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO")
    structlog.get_logger("persona_mcp.test").info(
        "called", token="pmcp_secret", authorization="Bearer x", n=1
    )
    logging.getLogger("mcp.server").warning("session %s started", "abc")
    captured = capsys.readouterr()
    assert captured.out == "", "stdout is reserved for JSON-RPC"
    lines = [json.loads(line) for line in captured.err.splitlines()]
    assert lines[0]["event"] == "called" and lines[0]["n"] == 1
    assert lines[0]["token"] == "[dropped]" and lines[0]["authorization"] == "[dropped]"
    assert lines[1] == {
        **lines[1],
        "event": "session abc started",
        "level": "warning",
        "logger": "mcp.server",
    }
    assert "pmcp_secret" not in captured.err


def test_a_library_record_after_the_configured_stderr_was_closed_goes_to_the_current_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    replaced = (tmp_path / "stderr.txt").open("w")
    monkeypatch.setattr(sys, "stderr", replaced)
    configure_logging("INFO")
    logging.getLogger("mcp.server").warning("first")
    replaced.close()  # e.g. a test runner's capture, gone once its test ended
    monkeypatch.undo()
    logging.getLogger("mcp.server").warning("second")
    assert json.loads(capsys.readouterr().err)["event"] == "second"
