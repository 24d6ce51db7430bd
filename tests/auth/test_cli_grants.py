"""`persona-mcp grants` end to end: a real SQLite file in a temporary data dir, the real audit log."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs
from typer.testing import CliRunner, Result

from persona_mcp.cli.grants import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("PERSONA_MCP_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("PERSONA_MCP_DATABASE_URL", raising=False)
    monkeypatch.delenv("PERSONA_MCP_CONFIG", raising=False)
    # The CLI points structlog at the stderr of the moment, which CliRunner closes after each invoke;
    # left configured, later tests in this process would log into a closed stream. Capture instead.
    monkeypatch.setattr("persona_mcp.cli.grants.configure_logging", lambda level: None)
    with capture_logs():
        yield tmp_path


def _grants(*args: str) -> Result:
    return runner.invoke(app, list(args))


def _json(*args: str) -> Any:
    result = _grants(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _create(*extra: str) -> dict[str, Any]:
    created: dict[str, Any] = _json("create", "--principal", "bot", "--env", "sandbox", *extra)
    return created


def test_create_prints_the_token_once_and_list_and_show_never_do() -> None:
    result = _grants(
        "create", "--principal", "bot", "--env", "sandbox", "--scopes", "accounts:read,lists:write"
    )
    assert result.exit_code == 0, result.output
    token = next(line for line in result.stdout.splitlines() if line.startswith("pmcp_"))
    listed = _grants("list")
    grant_id = _json("list")[0]["id"]
    shown = _grants("show", grant_id)
    assert token not in listed.output and token not in shown.output
    assert grant_id in listed.output and "lists:write" in shown.output
    assert token not in result.stderr


def test_create_without_scopes_gets_every_read_scope_and_constraints_are_kept() -> None:
    created = _create(
        "--expires",
        "12h",
        "--allow-tool",
        "get_account,list_accounts",
        "--deny-tool",
        "list_accounts",
        "--rate",
        "2/s",
        "--read-only",
        "--label",
        "triage",
    )
    grant = created["grant"]
    assert grant["scopes"] == [
        "accounts:read",
        "cases:read",
        "events:read",
        "inquiries:read",
        "lists:read",
        "reports:read",
        "verifications:read",
        "webhooks:read",
    ]
    assert grant["allow_tools"] == ["get_account", "list_accounts"] and grant["deny_tools"] == [
        "list_accounts"
    ]
    assert (grant["rate_per_minute"], grant["read_only"], grant["label"]) == (120, True, "triage")
    assert grant["expires_at"] is not None


def test_rotate_and_revoke_change_the_grant() -> None:
    created = _create()
    grant_id = created["grant"]["id"]
    rotated = _json("rotate", grant_id)
    assert rotated["token"] != created["token"] and rotated["token"].startswith("pmcp_")
    assert _json("revoke", grant_id)["revoked_at"] is not None
    assert _json("show", grant_id)["state"] == "revoked"
    assert _json("list") == [] and len(_json("list", "--all")) == 1
    again = _grants("revoke", grant_id)
    assert again.exit_code == 1 and "already revoked" in again.output


@pytest.mark.parametrize(
    "args",
    [
        ("--scopes", "accounts:read,accounts:reed"),
        ("--allow-tool", "get_acount"),
        ("--deny-tool", "drop_database"),
        ("--rate", "lots"),
        ("--expires", "someday"),
    ],
)
def test_unknown_names_and_bad_values_exit_2_and_create_nothing(args: tuple[str, str]) -> None:
    result = _grants("create", "--principal", "bot", "--env", "sandbox", *args)
    assert result.exit_code == 2, result.output
    assert args[1].split(",")[-1] in result.stderr or "rate" in result.stderr or "expiry" in result.stderr
    assert _json("list", "--all") == []


def test_show_of_an_unknown_grant_exits_1() -> None:
    result = _grants("show", "grt_0000000000000000")
    assert result.exit_code == 1 and "no grant" in result.stderr


def test_changes_are_refused_when_the_audit_log_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "persona_mcp.audit", None)  # import fails like a missing component
    result = _grants("create", "--principal", "bot", "--env", "sandbox")
    assert result.exit_code == 1 and "audit log" in result.stderr
    assert _json("list", "--all") == []  # reading still works


_FILE = """
source = "support"

[grants.triage]
principal = "triage-bot"
environment = "sandbox"
scopes = ["accounts:read", "inquiries:write"]
expires = "2099-01-01"
deny_tools = ["print_inquiry_pdf"]
rate = "60/min"

[grants.alice]
principal = "alice@example.com"
kind = "person"
environment = "production"
scopes = ["inquiries:read", "inquiries:decide", "pii:read"]
allow_tools = ["get_inquiry", "approve_inquiry"]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "grants.toml"
    path.write_text(text)
    return path


def test_apply_creates_then_a_second_apply_plans_nothing(tmp_path: Path) -> None:
    path = _write(tmp_path, _FILE)
    first = _json("apply", str(path))
    assert sorted((c["action"], c["name"]) for c in first["plan"]) == [
        ("create", "alice"),
        ("create", "triage"),
    ]
    assert set(first["tokens"]) == {"alice", "triage"}
    assert all(token.startswith("pmcp_") for token in first["tokens"].values())
    second = _json("apply", str(path))
    assert second["plan"] == [] and second["tokens"] == {}
    human = _grants("apply", str(path))
    assert human.exit_code == 0 and "nothing to change" in human.stdout


def test_dry_run_prints_the_plan_and_changes_nothing(tmp_path: Path) -> None:
    path = _write(tmp_path, _FILE)
    result = _grants("apply", str(path), "--dry-run")
    assert result.exit_code == 0 and "create" in result.stdout and "pmcp_" not in result.stdout
    assert _json("list", "--all") == []
    assert len(_json("apply", str(path), "--dry-run")["plan"]) == 2


def test_apply_updates_replaces_and_revokes_only_its_own_grants(tmp_path: Path) -> None:
    hand_made = _create()["grant"]["id"]
    path = _write(tmp_path, _FILE)
    applied = _json("apply", str(path))
    changed = _FILE.replace('rate = "60/min"', 'rate = "30/min"').replace(
        'environment = "production"', 'environment = "sandbox"'
    )
    plan = _json("apply", str(_write(tmp_path, changed)))["plan"]
    assert {(c["action"], c["name"]) for c in plan} == {("update", "triage"), ("replace", "alice")}
    update = next(c for c in plan if c["action"] == "update")
    assert update["changes"] == {"rate_per_minute": [60, 30]}
    only_triage = changed.split("[grants.alice]")[0]
    plan = _json("apply", str(_write(tmp_path, only_triage)))["plan"]
    assert [(c["action"], c["name"]) for c in plan] == [("revoke", "alice")]
    live = {g["id"]: g for g in _json("list")}
    assert hand_made in live
    assert applied["grants"]["triage"] in live and applied["grants"]["alice"] not in live


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('"pii:read"', '"pii:reed"'), "pii:reed"),
        (('"approve_inquiry"', '"approve_everything"'), "approve_everything"),
        (('expires = "2099-01-01"', 'expires = "30d"'), "relative expiry"),
        (('rate = "60/min"', 'rate = "60/min"\ncolour = "blue"'), "colour"),
    ],
)
def test_a_file_with_an_unknown_name_exits_2_before_changing_anything(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = _write(tmp_path, _FILE.replace(*change))
    result = _grants("apply", str(path))
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert _json("list", "--all") == []
