"""Operational logs: one JSON format on stderr, with secret-bearing keys dropped."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
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


CANARY = "jane.doe.canary@example.com"


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_upstream_request_lines_with_personal_filters_never_reach_stderr(
    capsys: pytest.CaptureFixture[str], level: str
) -> None:
    configure_logging(level)
    transport = httpx2.MockTransport(lambda _request: httpx2.Response(200, json={"data": []}))
    with httpx2.Client(transport=transport) as client:
        client.get("https://persona.test/api/v1/accounts", params={"filter[reference-id]": CANARY})
    logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET /mcp?email=%s HTTP/1.1" 200', CANARY)
    logging.getLogger("aiosqlite").debug("executing SELECT ... WHERE principal = %r", CANARY)
    assert CANARY not in capsys.readouterr().err


def test_library_warnings_still_come_through_but_urls_in_any_line_lose_their_query_string(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO")
    url = f"https://persona.test/api/v1/accounts?filter%5Breference-id%5D={CANARY}&page[size]=2"
    logging.getLogger("httpx2").warning("giving up on %s", url)
    structlog.get_logger("persona_mcp.test").warning("upstream.odd", url=url, note=f"see <{url}>")
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines()]
    assert lines[0]["event"] == "giving up on https://persona.test/api/v1/accounts?[query dropped]"
    assert lines[1]["url"] == "https://persona.test/api/v1/accounts?[query dropped]"
    assert lines[1]["note"] == "see <https://persona.test/api/v1/accounts?[query dropped]>"
    assert "canary" not in err


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
