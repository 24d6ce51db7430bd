"""Issue 10.4: `--unresolved` lists every call whose effect in Persona is unknown, once, in the CLI and the
reviewer tool alike, on SQLite and on PostgreSQL.

A call is unresolved until a `call.outcome` says `ok` or `error`. The log below holds one call of each
shape a reviewer can meet; only those whose effect is unknown may be listed, each once, by its intent (or,
without one, by its outcome).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from persona_mcp.audit import AuditEvent, AuditLog
from persona_mcp.cli.audit import app as audit_cli
from persona_mcp.store import create_store, upgrade
from persona_mcp.testing import connected

from ._support import call_event, intent_event

runner = CliRunner()

#: call id -> the kind of the record `--unresolved` must list for it.
UNRESOLVED = {
    "in-flight": "call.intent",  # intent, no outcome yet
    "answer-lost": "call.intent",  # the outcome says unknown (the case)
    "crashed": "call.intent",  # crash recovery could not tell
    "no-intent": "call.outcome",  # an outcome that says unknown, whatever came before it
}


def _intent(call_id: str) -> AuditEvent:
    return intent_event(call_id, principal="agent-1")


def _outcome(call_id: str, outcome: str) -> AuditEvent:
    return call_event(
        0,
        call_id=call_id,
        tool="create_account",
        scope="accounts:write",
        upstream_method="POST",
        upstream_path="/accounts",
        upstream_status={"ok": 201, "error": 422, "unknown": 429}[outcome],
        outcome=outcome,
        idempotency_key=f"key-{call_id}",
    )


def _unknown(call_id: str) -> AuditEvent:
    return AuditEvent(
        kind="call.outcome_unknown",
        call_id=call_id,
        tool="create_account",
        reason="the server stopped between intent and outcome",
        idempotency_key=f"key-{call_id}",
    )


async def seed_calls(log: AuditLog) -> None:
    """One call of every shape, interleaved the way concurrent calls interleave."""
    events = [
        _intent("in-flight"),
        _intent("answer-lost"),
        _intent("crashed"),
        _intent("done"),
        _intent("rejected"),
        _intent("spooled"),
        _outcome("done", "ok"),
        _outcome("answer-lost", "unknown"),
        _outcome("rejected", "error"),
        _unknown("crashed"),
        _unknown("spooled"),
        _outcome("spooled", "ok"),  # the real result, recorded after recovery had given up on it
        call_event(1, call_id="a-read"),
        _outcome("no-intent", "unknown"),
        AuditEvent(kind="call.denied", call_id="denied", tool="create_account", decision="denied"),
    ]
    for event in events:
        await log.append(event)


@pytest.fixture
def seeded(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("PERSONA_MCP_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PERSONA_MCP_DATABASE_URL", database_url)
    monkeypatch.delenv("PERSONA_MCP_AUDIT_CHECKPOINT_DIR", raising=False)
    monkeypatch.delenv("PERSONA_MCP_CONFIG", raising=False)

    async def seed() -> None:
        store = create_store(database_url)
        await upgrade(store)
        log = await AuditLog.open(store, data_dir=data_dir, instance_id="unresolved-test")
        try:
            await seed_calls(log)
        finally:
            await log.aclose()
            await store.close()

    anyio.run(seed)
    yield data_dir


def test_audit_query_unresolved_lists_every_call_whose_effect_is_unknown_once(seeded: Path) -> None:
    result = runner.invoke(audit_cli, ["query", "--unresolved", "--json"])
    assert result.exit_code == 0, result.output

    listed = [json.loads(line) for line in result.output.splitlines()]
    assert {r["call_id"]: r["kind"] for r in listed} == UNRESOLVED
    assert len(listed) == len(UNRESOLVED), "one record per call"
    assert all(r["idempotency_key"] == f"key-{r['call_id']}" for r in listed), "each says how to check"


def test_audit_query_unresolved_combines_with_the_other_filters(seeded: Path) -> None:
    result = runner.invoke(audit_cli, ["query", "--unresolved", "--principal", "agent-1", "--json"])
    assert result.exit_code == 0, result.output
    listed = [json.loads(line)["call_id"] for line in result.output.splitlines()]
    assert listed == ["in-flight", "answer-lost", "crashed"]


@pytest.mark.anyio
async def test_query_audit_log_unresolved_lists_the_same_calls_through_the_mcp_client(
    database_url: str, tmp_path: Path
) -> None:
    # The seeded calls name no stored grant: only a reviewer of every environment sees them.
    scopes = ["audit:read", "audit:all_environments"]
    async with connected(tmp_path, scopes, database_url=database_url) as h:
        await seed_calls(h.app.audit)
        result = await h.client.call_tool("query_audit_log", {"unresolved": True})

    assert not result.is_error, result.content
    assert result.structured_content is not None
    records = result.structured_content["records"]
    assert {r["call_id"]: r["kind"] for r in records} == UNRESOLVED
    assert len(records) == len(UNRESOLVED) and not result.structured_content["truncated"]
    assert [r["seq"] for r in records] == sorted((r["seq"] for r in records), reverse=True)
