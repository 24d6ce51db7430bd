"""Issue 10, point 5: a search column edited behind the chain's back is found by plain verify.

The columns (`principal`, `tool`, `decision`, `object_ids`, `recorded_at`, ...) are what queries filter on;
the body is what they show and what is hashed. An attacker who dropped the append-only triggers and
edited one column hid the record from `audit query --principal` (or pinned it on someone else) while
`audit verify` and the `verify_audit_log` tool said OK. Both now check every column of every record, on
SQLite and PostgreSQL; only `--fast` skips it, and says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from persona_mcp.audit import AuditEvent, AuditLog
from persona_mcp.audit.columns import COLUMNS
from persona_mcp.audit.query import AuditFilter, query_records
from persona_mcp.audit.verify import BreakKind, VerifyStatus, verify_log
from persona_mcp.cli.audit import app
from persona_mcp.store import Store, create_store, upgrade
from persona_mcp.testing import connected

from ._support import call_event, drop_append_only_triggers, execute, fill, written_log

pytestmark = pytest.mark.anyio

runner = CliRunner()
TARGET = 90  # call_event(89): principal agent-2, tool get_account, object act_89

#: One edit per search column, each of which misleads a query about record TARGET.
EDITS: dict[str, str] = {
    "principal": "'agent-0'",
    "tool": "'approve_inquiry'",
    "decision": "'denied'",
    "object_ids": "' act_elsewhere '",
    "recorded_at": "'2001-01-01T00:00:00.000000Z'",
    "kind": "'call.denied'",
    "call_id": "'call-elsewhere'",
    "grant_id": "'grt_elsewhere'",
    "outcome": "'error'",
    "instance_id": "'elsewhere'",
}


def test_every_search_column_has_an_edit_here() -> None:
    assert set(EDITS) == set(COLUMNS) - {"seq"}, "seq is a chain position: the walk itself checks it"


@pytest.fixture
async def log(store: Store, data_dir: Path) -> AuditLog:
    """200 records, closed (so a final checkpoint is kept in the data directory's mirror file)."""
    log = await AuditLog.open(store, data_dir=data_dir, instance_id="columns", checkpoint_every=100)
    await fill(log, 200)
    await log.aclose()
    return log


async def _edit(store: Store, column: str) -> None:
    await drop_append_only_triggers(store)
    await execute(store, f"UPDATE audit_records SET {column} = {EDITS[column]} WHERE seq = {TARGET}")


@pytest.mark.parametrize("column", list(EDITS))
async def test_plain_verify_finds_an_edited_search_column_and_names_it(
    store: Store, log: AuditLog, column: str
) -> None:
    assert (await verify_log(store, trusted_keys=[log.public_key])).ok

    await _edit(store, column)

    report = await verify_log(store, trusted_keys=[log.public_key], batch_size=64)
    assert report.status is VerifyStatus.BROKEN
    first = report.first_break
    assert first is not None and (first.kind, first.seq) == (BreakKind.EDITED, TARGET)
    assert column in first.detail


async def test_a_record_hidden_from_principal_queries_no_longer_passes_verification(
    store: Store, log: AuditLog
) -> None:
    before = await query_records(store, AuditFilter(principal="agent-2"), limit=500)
    assert TARGET in {r.seq for r in before}

    await _edit(store, "principal")

    after = await query_records(store, AuditFilter(principal="agent-2"), limit=500)
    assert TARGET not in {r.seq for r in after}, "the query misses it"
    blamed = await query_records(store, AuditFilter(principal="agent-0"), limit=500)
    shown = next(r for r in blamed if r.seq == TARGET)
    assert shown.principal == "agent-2", "and lists it under agent-0, showing agent-2"
    first = (await verify_log(store, trusted_keys=[log.public_key])).first_break
    assert first is not None and (first.kind, first.seq) == (BreakKind.EDITED, TARGET)


async def test_the_fast_mode_skips_the_columns_and_says_so(store: Store, log: AuditLog) -> None:
    await _edit(store, "tool")

    fast = await verify_log(store, trusted_keys=[log.public_key], check_columns=False)
    assert fast.ok and not fast.columns_checked


async def test_values_the_database_cannot_vouch_for_are_confirmed_not_flagged(
    store: Store, data_dir: Path
) -> None:
    """Quotes, backslashes, control and non-ASCII characters, spaces inside ids: all agree, none is a break;
    and the same values edited are still found."""
    log = await AuditLog.open(store, data_dir=data_dir, instance_id='odd "instance" \\ é')
    odd = {
        "principal": 'agent "quoted" \\ back\tslash é 名',
        "tool": "get\naccount",
        "call_id": "call-\u2028",
        "grant_id": "grt_ü",
        "object_ids": ["act_1", 'act "2"', "act\\3", "act 4", ""],
    }
    try:
        await fill(log, 5)
        await log.append(call_event(5, **odd))
        await log.append(call_event(6, object_ids=[]))
        await log.append(
            AuditEvent(kind="admin.grant.created", actor="ops", target="grt_1", details={"a": 1})
        )
        await fill(log, 5, 7)
    finally:
        await log.aclose()
    assert (await verify_log(store, trusted_keys=[log.public_key])).ok

    await drop_append_only_triggers(store)
    await execute(
        store, "UPDATE audit_records SET object_ids = ' act_1 act \"2\" act\\3 act 4  x ' WHERE seq = 6"
    )
    first = (await verify_log(store, trusted_keys=[log.public_key])).first_break
    assert first is not None and (first.kind, first.seq, "object_ids" in first.detail) == (
        BreakKind.EDITED,
        6,
        True,
    )


async def test_object_ids_columns_outside_the_writers_form_are_found(store: Store, log: AuditLog) -> None:
    """Each record's column is " act_<n> " with n = seq - 1; three malformed ones, found in turn."""
    await drop_append_only_triggers(store)
    await execute(store, "UPDATE audit_records SET object_ids = '  ' WHERE seq = 90")  # one empty id
    await execute(store, "UPDATE audit_records SET object_ids = :v WHERE seq = 120", {"v": " act_119\n "})
    await execute(store, "UPDATE audit_records SET object_ids = 'act_149' WHERE seq = 150")  # no spaces

    for seq, restored in ((90, " act_89 "), (120, " act_119 "), (150, None)):
        first = (await verify_log(store, trusted_keys=[log.public_key])).first_break
        assert first is not None and (first.kind, first.seq) == (BreakKind.EDITED, seq)
        if restored is not None:
            await execute(store, f"UPDATE audit_records SET object_ids = '{restored}' WHERE seq = {seq}")


async def test_the_verify_tool_reports_an_edited_column_through_the_mcp_client(
    tmp_path: Path, database_url: str
) -> None:
    async with connected(tmp_path / "server", ["audit:read"], database_url=database_url) as h:
        await fill(h.app.audit, 30)
        await h.app.audit.checkpoint()
        intact = await h.client.call_tool("verify_audit_log", {})
        assert intact.structured_content is not None and intact.structured_content["status"] == "ok"

        await drop_append_only_triggers(h.app.store)
        await execute(h.app.store, "UPDATE audit_records SET decision = 'denied' WHERE seq = 12")
        result = await h.client.call_tool("verify_audit_log", {})

    found = result.structured_content
    assert found is not None
    assert (found["ok"], found["status"], found["first_break_kind"], found["first_break_seq"]) == (
        False,
        "broken",
        "edited",
        12,
    )
    assert "decision" in found["first_break_detail"]


# -- the CLI -------------------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("PERSONA_MCP_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PERSONA_MCP_DATABASE_URL", database_url)
    monkeypatch.delenv("PERSONA_MCP_AUDIT_CHECKPOINT_LOCATION", raising=False)
    monkeypatch.delenv("PERSONA_MCP_CONFIG", raising=False)
    anyio.run(_seed_and_edit, database_url, data_dir)
    yield data_dir


async def _seed_and_edit(url: str, data_dir: Path) -> None:
    store = create_store(url)
    try:
        await upgrade(store)
        await written_log(store, data_dir, 40, instance_id="cli-columns")
        await drop_append_only_triggers(store)
        await execute(
            store, "UPDATE audit_records SET recorded_at = '2001-01-01T00:00:00.000000Z' WHERE seq = 7"
        )
    finally:
        await store.close()


def test_audit_verify_exits_one_on_an_edited_column_and_fast_says_what_it_skipped(cli_env: Path) -> None:
    plain = runner.invoke(app, ["verify", "--json"])
    assert plain.exit_code == 1, plain.output
    report = json.loads(plain.output)
    assert report["status"] == "broken" and report["columns_checked"] is True
    assert (report["breaks"][0]["kind"], report["breaks"][0]["seq"]) == ("edited", 7)
    assert "recorded_at" in report["breaks"][0]["detail"]

    fast = runner.invoke(app, ["verify", "--fast"])
    assert fast.exit_code == 0, fast.output
    assert "NOT CHECKED" in fast.output and "search columns" in fast.output
    fast_json = json.loads(runner.invoke(app, ["verify", "--fast", "--json"]).output)
    assert fast_json["columns_checked"] is False and fast_json["not_checked"]
