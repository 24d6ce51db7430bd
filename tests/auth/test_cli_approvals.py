"""`persona-mcp grants create --no-approval/--require-approval/--tool-limit` and `persona-mcp approvals`
end to end on a real SQLite file: the grant changes are audited, a held call is listed, shown masked,
approved by a person (never its own principal) with a reason, and its story is in `audit query`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs
from typer.testing import CliRunner

from persona_mcp.auth.grant import PrincipalKind
from persona_mcp.cli.approvals import app as approvals_app
from persona_mcp.cli.audit import app as audit_app
from persona_mcp.cli.grants import app as grants_app
from persona_mcp.testing import connected, issue_grant

runner = CliRunner()
pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("PERSONA_MCP_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("PERSONA_MCP_DATABASE_URL", raising=False)
    monkeypatch.delenv("PERSONA_MCP_CONFIG", raising=False)
    for module in ("grants", "approvals", "audit"):
        monkeypatch.setattr(f"persona_mcp.cli.{module}.configure_logging", lambda level: None, raising=False)
    with capture_logs():
        yield tmp_path


def _invoke(app: Any, *args: str) -> Any:
    result = runner.invoke(app, list(args))
    return result


async def _in_thread(app: Any, *args: str) -> Any:
    """The command runs its own event loop: in a worker thread, beside the test's server."""
    return await anyio.to_thread.run_sync(lambda: _invoke(app, *args))


def test_grants_create_records_the_approval_policy_and_tool_limits_of_the_grant() -> None:
    created = _invoke(
        grants_app,
        "create",
        "--principal",
        "bot",
        "--env",
        "sandbox",
        "--scopes",
        "inquiries:decide",
        "--no-approval",
        "decline_inquiry",
        "--require-approval",
        "approve_inquiry",
        "--tool-limit",
        "decline_inquiry=10/1h",
        "--json",
    )
    assert created.exit_code == 0, created.output
    grant = json.loads(created.stdout)["grant"]
    assert grant["no_approval"] == ["decline_inquiry"] and grant["require_approval"] == ["approve_inquiry"]
    assert grant["tool_limits"] == [{"tool": "decline_inquiry", "calls": 10, "window_seconds": 3600}]
    audited = _invoke(audit_app, "query", "--kind", "admin.grant.created", "--json")
    assert audited.exit_code == 0, audited.output
    assert "decline_inquiry" in audited.stdout and "no_approval" in audited.stdout

    bad = _invoke(grants_app, "create", "--principal", "b", "--env", "sandbox", "--no-approval", "nope_tool")
    assert bad.exit_code == 2 and "nope_tool" in bad.output
    bad_limit = _invoke(
        grants_app, "create", "--principal", "b", "--env", "sandbox", "--tool-limit", "decline_inquiry=ten"
    )
    assert bad_limit.exit_code == 2


async def test_approvals_list_show_approve_through_the_command_line(data_dir: Path) -> None:
    async with connected(data_dir, ["accounts:read", "accounts:delete"], principal="agent-a") as h:
        account = sorted(r.id for r in h.sandbox.records.values() if r.type == "account")[0]
        held = await h.client.call_tool("redact_account", {"account_id": account})
        approval_id = held.structured_content["id"]  # type: ignore[index]
        await issue_grant(h.app, ["approvals:decide"], principal="alice", principal_kind=PrincipalKind.PERSON)
        await issue_grant(
            h.app, ["approvals:decide"], principal="agent-a", principal_kind=PrincipalKind.PERSON
        )

        listed = await _in_thread(approvals_app, "list", "--json")
        assert listed.exit_code == 0, listed.output
        assert [row["id"] for row in json.loads(listed.stdout)] == [approval_id]
        shown = await _in_thread(approvals_app, "show", approval_id, "--as", "alice", "--json")
        assert shown.exit_code == 0, shown.output
        assert json.loads(shown.stdout)["arguments"] == {"account_id": account}

        no_reason = await _in_thread(approvals_app, "approve", approval_id, "--as", "alice", "--reason", " ")
        assert no_reason.exit_code != 0
        own = await _in_thread(approvals_app, "approve", approval_id, "--as", "agent-a", "--reason", "mine")
        assert own.exit_code == 1 and "four eyes" in own.output
        approved = await _in_thread(
            approvals_app, "approve", approval_id, "--as", "alice", "--reason", "ticket 7"
        )
        assert approved.exit_code == 0, approved.output

        ran = await h.client.call_tool("redact_account", {"account_id": account})
        assert ran.structured_content["id"] == account  # type: ignore[index]
        assert h.sandbox.counters["accounts.redact"] == 1

    story = await _in_thread(audit_app, "query", "--approval", approval_id, "--json")
    assert story.exit_code == 0, story.output
    kinds = [json.loads(line)["kind"] for line in story.stdout.splitlines() if line.strip()]
    assert kinds[0] == "approval.requested"
    assert {"approval.approved", "approval.used", "call.intent", "call.outcome"} <= set(kinds)


async def test_approvals_reject_through_the_command_line_records_the_person_and_reason_not_the_arguments(
    data_dir: Path,
) -> None:
    email = "jane.doe@example.com"
    async with connected(
        data_dir, ["accounts:write"], principal="agent-a", require_approval=frozenset({"update_account"})
    ) as h:
        account = sorted(r.id for r in h.sandbox.records.values() if r.type == "account")[0]
        arguments = {"account_id": account, "email_address": email}
        held = await h.client.call_tool("update_account", arguments)
        approval_id = held.structured_content["id"]  # type: ignore[index]
        await issue_grant(h.app, ["approvals:decide"], principal="alice", principal_kind=PrincipalKind.PERSON)

        rejected = await _in_thread(
            approvals_app, "reject", approval_id, "--as", "alice", "--reason", "no ticket for this change"
        )
        assert rejected.exit_code == 0, rejected.output
        assert f"{approval_id} rejected by alice" in rejected.stdout
        again = await _in_thread(approvals_app, "approve", approval_id, "--as", "alice", "--reason", "oops")
        assert again.exit_code == 1 and "rejected, not pending" in again.output

        after = await h.client.call_tool("update_account", arguments)
        assert not after.is_error
        assert after.structured_content["approval"]["status"] == "rejected"  # type: ignore[index]
        assert "no ticket for this change" in after.structured_content["approval"]["next_step"]  # type: ignore[index]
        assert h.sandbox.counters.get("accounts.update", 0) == 0

    verified = await _in_thread(audit_app, "verify", "--json")
    assert verified.exit_code == 0 and json.loads(verified.stdout)["ok"] is True, verified.output
    story = await _in_thread(audit_app, "query", "--approval", approval_id, "--json")
    assert story.exit_code == 0, story.output
    records = [json.loads(line) for line in story.stdout.splitlines() if line.strip()]
    decision = [r for r in records if r["kind"] == "approval.rejected"]
    assert len(decision) == 1
    assert decision[0]["actor"] == "alice" and decision[0]["principal"] == "agent-a"
    assert decision[0]["reason"] == "no ticket for this change"
    assert decision[0]["details"]["digest"].startswith("hmac-sha256:")
    assert "approval.approved" not in [r["kind"] for r in records]
    everything = await _in_thread(audit_app, "query", "--limit", "1000", "--json")
    assert approval_id in everything.stdout and email not in everything.stdout


async def test_a_held_call_expires_after_24_hours_by_default(data_dir: Path) -> None:
    async with connected(data_dir, ["accounts:read", "accounts:delete"], principal="agent-a") as h:
        account = sorted(r.id for r in h.sandbox.records.values() if r.type == "account")[0]
        held = await h.client.call_tool("redact_account", {"account_id": account})
        approval_id = held.structured_content["id"]  # type: ignore[index]

    listed = await _in_thread(approvals_app, "list", "--json")
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.stdout)
    lifetime = datetime.fromisoformat(row["expires_at"]) - datetime.fromisoformat(row["requested_at"])
    assert lifetime == timedelta(hours=24)
    assert held.structured_content["approval"]["expires_at"] == row["expires_at"]  # type: ignore[index]
    story = await _in_thread(audit_app, "query", "--approval", approval_id, "--json")
    requested = next(json.loads(line) for line in story.stdout.splitlines() if "approval.requested" in line)
    assert requested["details"]["expires_in_seconds"] == 24 * 3600
