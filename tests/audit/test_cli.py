"""`persona-mcp audit ...` through Typer's CliRunner, against a real database."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from persona_mcp.audit import AuditEvent, AuditLog, PiiDigester
from persona_mcp.cli.audit import app
from persona_mcp.store import create_store, upgrade

from ._support import call_event, drop_append_only_triggers, execute

runner = CliRunner()


@pytest.fixture
def env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("PERSONA_MCP_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PERSONA_MCP_DATABASE_URL", database_url)
    monkeypatch.delenv("PERSONA_MCP_AUDIT_CHECKPOINT_LOCATION", raising=False)
    monkeypatch.delenv("PERSONA_MCP_CONFIG", raising=False)
    anyio.run(_seed, database_url, data_dir)
    yield data_dir


async def _seed(url: str, data_dir: Path) -> None:
    store = create_store(url)
    await upgrade(store)
    log = await AuditLog.open(store, data_dir=data_dir, instance_id="cli-test")
    try:
        for i in range(30):
            await log.append(call_event(i))
        digest = PiiDigester.for_data_dir(data_dir).digest_email("jane@example.com")
        await log.append(
            AuditEvent(
                kind="call.denied",
                call_id="denied-1",
                principal="agent-9",
                tool="approve_inquiry",
                decision="denied",
                reason="missing scope",
                arguments={"email_address": digest},
            )
        )
        await log.append(
            AuditEvent(kind="call.intent", call_id="open-1", tool="create_account", decision="allowed")
        )
    finally:
        await log.aclose()
        await store.close()


def _tamper(url: str, sql: str) -> None:
    async def run() -> None:
        store = create_store(url)
        try:
            await drop_append_only_triggers(store)
            await execute(store, sql)
        finally:
            await store.close()

    anyio.run(run)


def test_verify_exits_zero_on_an_intact_log_and_one_on_a_break(env: Path, database_url: str) -> None:
    ok = runner.invoke(app, ["verify", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["ok"] is True

    _tamper(database_url, "DELETE FROM audit_records WHERE seq = 12")
    broken = runner.invoke(app, ["verify", "--json"])
    assert broken.exit_code == 1
    report = json.loads(broken.output)
    assert report["breaks"][0]["kind"] == "deleted" and report["breaks"][0]["seq"] == 12


def test_verify_with_an_outside_checkpoint_detects_a_truncated_log(
    env: Path, database_url: str, tmp_path: Path
) -> None:
    made = runner.invoke(app, ["checkpoint"])
    assert made.exit_code == 0, made.output
    held = tmp_path / "held.jsonl"
    held.write_text(made.output)
    _tamper(database_url, "DELETE FROM audit_checkpoints")
    _tamper(database_url, "DELETE FROM audit_records WHERE seq > 20")
    # ... and the open call it dropped from the open-calls set, which verify holds against the records.
    _tamper(database_url, "DELETE FROM audit_open_calls WHERE seq > 20")
    (env / "audit-checkpoints.jsonl").unlink()  # the attacker can write the data directory too

    assert runner.invoke(app, ["verify"]).exit_code == 3, "without the held checkpoint: unanchored"
    result = runner.invoke(app, ["verify", "--checkpoint", str(held), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output)["breaks"][0] == {
        "kind": "truncated",
        "seq": 21,
        "detail": json.loads(result.output)["breaks"][0]["detail"],
    }


def test_verify_without_any_trusted_key_cannot_vouch(env: Path) -> None:
    (env / "audit-signing.key").unlink()
    assert runner.invoke(app, ["verify"]).exit_code == 2


def test_query_filters_by_denial_person_and_unresolved(env: Path) -> None:
    denied = runner.invoke(app, ["query", "--decision", "denied", "--json"])
    assert [json.loads(line)["call_id"] for line in denied.output.splitlines()] == ["denied-1"]

    by_email = runner.invoke(app, ["query", "--email", "JANE@example.com ", "--json"])
    assert [json.loads(line)["call_id"] for line in by_email.output.splitlines()] == ["denied-1"]

    unresolved = runner.invoke(app, ["query", "--unresolved", "--json"])
    assert [json.loads(line)["call_id"] for line in unresolved.output.splitlines()] == ["open-1"]

    by_object = runner.invoke(app, ["query", "--object", "act_7", "--json"])
    assert [json.loads(line)["object_ids"] for line in by_object.output.splitlines()] == [["act_7"]]

    table = runner.invoke(app, ["query", "--principal", "agent-9"])
    assert table.exit_code == 0 and "approve_inquiry" in table.output


def test_export_formats_carry_every_record_and_ocsf_fields(env: Path, tmp_path: Path) -> None:
    jsonl = runner.invoke(app, ["export", "--format", "jsonl"])
    assert len(jsonl.output.splitlines()) == 32

    rows = list(csv.DictReader(io.StringIO(runner.invoke(app, ["export", "--format", "csv"]).output)))
    assert len(rows) == 32 and rows[0]["seq"] == "1"

    out = tmp_path / "ocsf.jsonl"
    assert runner.invoke(app, ["export", "--format", "ocsf", "--output", str(out)]).exit_code == 0
    events = [json.loads(line) for line in out.read_text().splitlines()]
    denied = next(e for e in events if e["metadata"]["correlation_uid"] == "denied-1")
    assert denied["class_uid"] == 6003 and denied["category_uid"] == 6
    assert denied["type_uid"] == 600300 + denied["activity_id"]
    assert denied["activity_id"] == 3  # approve_* is an update
    assert denied["actor"]["user"]["uid"] == "agent-9"
    assert denied["api"]["operation"] == "approve_inquiry"
    assert denied["status_id"] == 2 and denied["status"] == "Failure"
    assert denied["metadata"]["product"]["name"] == "persona-mcp"
    assert isinstance(denied["time"], int) and denied["time"] > 1_600_000_000_000
    read = next(e for e in events if e["api"]["operation"] == "get_account")
    assert read["activity_id"] == 2 and read["api"]["request"]["uid"].startswith("req_")

    none = runner.invoke(app, ["export", "--since", "2999-01-01T00:00:00Z"])
    assert none.output == ""


def test_tail_shows_the_newest_records(env: Path) -> None:
    result = runner.invoke(app, ["tail", "-n", "2", "--json"])
    assert [json.loads(line)["seq"] for line in result.output.splitlines()] == [31, 32]


def test_pubkey_prints_a_pem_and_the_fingerprint_verifiers_use(env: Path, tmp_path: Path) -> None:
    out = tmp_path / "audit.pub"
    result = runner.invoke(app, ["pubkey", "--output", str(out)])
    assert result.exit_code == 0
    assert result.output.startswith("-----BEGIN PUBLIC KEY-----")
    assert "fingerprint: sha256:" in result.output
    assert out.read_text() in result.output
    (env / "audit-signing.key").rename(tmp_path / "moved.key")
    assert runner.invoke(app, ["verify", "--pubkey", str(out)]).exit_code == 0
