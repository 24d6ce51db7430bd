"""Every record names the Persona objects its call was aimed at, in clear and indexed: a reviewer finds
the denied and the invalid calls about an account as readily as the allowed ones, on SQLite and on
PostgreSQL, through `audit query --object` and through the reviewer tool `query_audit_log`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.shared.exceptions import MCPError
from typer.testing import CliRunner

from persona_mcp.audit.query import AuditFilter, query_records
from persona_mcp.audit.record import AuditEvent
from persona_mcp.auth.scopes import Scope
from persona_mcp.cli.audit import app as audit_cli
from persona_mcp.server.pipeline import MAX_NAMED_OBJECT_IDS
from persona_mcp.store import create_store, upgrade
from persona_mcp.testing import Harness, connected, insert_sealed_records, issue_grant

ACCOUNT = "act_DeniedTarget0001"
OTHER = "act_SomeoneElse0002"
runner = CliRunner()


async def _calls(h: Harness) -> None:
    """Two denied calls, an invalid write and an allowed read that fails upstream; only the last is about
    OTHER."""
    for tool in ("get_account", "redact_account"):
        with pytest.raises(MCPError, match="Access denied"):
            await h.client.call_tool(tool, {"account_id": ACCOUNT})
    writer = await issue_grant(h.app, [Scope.ACCOUNTS_WRITE, Scope.ACCOUNTS_READ])
    h.app.caller_source.token = writer  # type: ignore[attr-defined]
    invalid = await h.client.call_tool("update_account", {"account_id": ACCOUNT, "name_first": 7})
    assert invalid.is_error
    missing = await h.client.call_tool("get_account", {"account_id": OTHER})
    assert missing.is_error  # not in the sandbox: an upstream 404, recorded as an allowed call
    h.app.caller_source.token = h.token  # type: ignore[attr-defined]


def _records(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


@pytest.mark.anyio
async def test_query_audit_log_finds_the_denied_calls_by_the_object_they_named(
    database_url: str, tmp_path: Path
) -> None:
    async with connected(tmp_path / "data", [Scope.AUDIT_READ], database_url=database_url) as h:
        await _calls(h)
        found = await h.client.call_tool("query_audit_log", {"object_id": ACCOUNT, "decision": "denied"})

    assert not found.is_error
    assert isinstance(found.structured_content, dict)
    records = found.structured_content["records"]
    assert sorted((r["tool"], r["kind"], r["object_ids"]) for r in records) == [
        ("get_account", "call.denied", [ACCOUNT]),
        ("redact_account", "call.denied", [ACCOUNT]),
    ]


async def _record_calls(data_dir: Path, database_url: str) -> None:
    async with connected(data_dir, [Scope.AUDIT_READ], database_url=database_url) as h:
        await _calls(h)


def test_audit_query_by_object_finds_denied_invalid_and_failed_calls(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    anyio.run(_record_calls, data_dir, database_url)
    monkeypatch.setenv("PERSONA_MCP_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PERSONA_MCP_DATABASE_URL", database_url)
    monkeypatch.delenv("PERSONA_MCP_CONFIG", raising=False)
    monkeypatch.delenv("PERSONA_MCP_AUDIT_CHECKPOINT_DIR", raising=False)

    denied = runner.invoke(audit_cli, ["query", "--object", ACCOUNT, "--decision", "denied", "--json"])
    assert denied.exit_code == 0, denied.output
    assert sorted(r["tool"] for r in _records(denied.output)) == ["get_account", "redact_account"]
    for record in _records(denied.output):
        assert record["arguments"] == {"account_id": ACCOUNT}, "the id stays readable in the arguments too"

    everything = _records(runner.invoke(audit_cli, ["query", "--object", ACCOUNT, "--json"]).output)
    invalid = [r for r in everything if r.get("error_kind") == "invalid_arguments"]
    assert [(r["tool"], r["object_ids"]) for r in invalid] == [("update_account", [ACCOUNT])]
    assert all(OTHER not in r["object_ids"] for r in everything), "an exact match, not a substring"
    failed = _records(runner.invoke(audit_cli, ["query", "--object", OTHER, "--json"]).output)
    assert [(r["tool"], r["outcome"]) for r in failed] == [("get_account", "error")], (
        "an allowed call whose upstream request failed is found by the id it named"
    )


@pytest.mark.anyio
async def test_records_written_before_the_index_existed_are_indexed_by_the_migration(
    database_url: str,
) -> None:
    store = create_store(database_url)
    try:
        await upgrade(store, "0003_credentials")
        await insert_sealed_records(
            store,
            (
                AuditEvent(kind="call.outcome", call_id=f"c{seq}", object_ids=ids)
                for seq, ids in enumerate(([ACCOUNT], [], [OTHER, ACCOUNT]), start=1)
            ),
        )

        await upgrade(store)

        with anyio.fail_after(30):
            found = await query_records(store, AuditFilter(object_id=ACCOUNT))
        assert [r.call_id for r in found] == ["c1", "c3"]
        assert [r.call_id for r in await query_records(store, AuditFilter(object_id=OTHER))] == ["c3"]
    finally:
        await store.close()


@pytest.mark.anyio
async def test_a_call_that_names_thousands_of_ids_cannot_bloat_the_record_or_the_index(
    tmp_path: Path,
) -> None:
    flood = [f"act_Flood{i:06d}" for i in range(5000)]
    async with connected(tmp_path / "data", [Scope.AUDIT_READ]) as h:
        with pytest.raises(MCPError):
            await h.client.call_tool("no_such_tool", {"ids": flood})
        [denied] = await query_records(h.app.store, AuditFilter(kind="call.denied"))

    assert denied.object_ids == flood[:MAX_NAMED_OBJECT_IDS]
    assert denied.arguments is not None and set(denied.arguments) == {"oversized_bytes", "digest"}
