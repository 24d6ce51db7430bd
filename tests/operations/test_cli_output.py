"""The CLI reads well: whole ids on one line when piped, how many records a query left out, one record
or one call in full, and `--json` wherever a script may want it."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from tests.audit._support import call_event
from tests.operations._cli import clean_env, run_cli, run_on_terminal

from persona_mcp.audit import AuditLog
from persona_mcp.store import create_store, upgrade

CALL_A = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
CALL_B = "a1b2ffffe5f60718293a4b5c6d7e8f91"


async def _log_with_calls(data_dir: Path) -> None:
    store = create_store(f"sqlite+aiosqlite:///{data_dir / 'persona-mcp.sqlite3'}")
    try:
        await upgrade(store)
        log = await AuditLog.open(store, data_dir=data_dir, instance_id="cli-test")
        try:
            await log.append(call_event(1, kind="call.intent", call_id=CALL_A, outcome=None))
            await log.append(call_event(2, call_id=CALL_A))
            await log.append(call_event(3, call_id=CALL_B))
            for i in range(4, 8):
                await log.append(call_event(i))
        finally:
            await log.aclose()
    finally:
        await store.close()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    anyio.run(_log_with_calls, tmp_path)
    return clean_env(tmp_path)


def test_a_piped_query_shows_whole_call_ids_and_how_many_records_the_limit_left_out(
    env: dict[str, str],
) -> None:
    ran = run_cli("audit", "query", "--limit", "3", env=env)
    assert ran.status == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0].split("\t")[0] == "seq" and "\t" in lines[1]
    assert CALL_A in ran.stdout, "the call id in full, on one line"
    assert "│" not in ran.stdout and "┃" not in ran.stdout, "plain output when piped"
    assert lines[-1] == "showing 3 of 7 matching record(s); --limit 7 shows them all"
    everything = run_cli("audit", "query", "--limit", "50", env=env)
    assert everything.stdout.splitlines()[-1] == "showing 7 of 7 matching record(s)"


def test_query_accepts_a_unique_call_id_prefix_and_refuses_an_ambiguous_one(env: dict[str, str]) -> None:
    ran = run_cli("audit", "query", "--call", "a1b2c3", "--json", env=env)
    assert ran.status == 0, ran.stderr
    records = [json.loads(line) for line in ran.stdout.splitlines()]
    assert [r["call_id"] for r in records] == [CALL_A, CALL_A]
    ambiguous = run_cli("audit", "query", "--call", "a1b2", env=env)
    assert ambiguous.status == 2 and "ambiguous" in ambiguous.one_line and CALL_B in ambiguous.one_line
    unknown = run_cli("audit", "query", "--call", "ffff", env=env)
    assert unknown.status == 2 and "no recorded call id starts with" in unknown.one_line


def test_audit_show_one_record_by_seq_or_every_record_of_a_call(env: dict[str, str]) -> None:
    by_seq = run_cli("audit", "show", "3", env=env)
    assert by_seq.status == 0, by_seq.stderr
    assert "seq: 3" in by_seq.stdout.splitlines() and f"call_id: {CALL_B}" in by_seq.stdout.splitlines()
    by_call = run_cli("audit", "show", "a1b2c", "--json", env=env)
    assert [json.loads(line)["seq"] for line in by_call.stdout.splitlines()] == [1, 2]
    missing = run_cli("audit", "show", "99", env=env)
    assert missing.status == 2 and "no record with seq 99" in missing.one_line


def test_export_to_a_file_says_how_many_records_it_wrote(env: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    ran = run_cli("audit", "export", "--output", str(target), env=env)
    assert ran.status == 0, ran.stderr
    assert f"exported 7 record(s) to {target}" in ran.stderr
    assert len(target.read_text().splitlines()) == 7


def test_verify_shows_a_progress_bar_on_a_terminal_plain_output_when_piped_and_the_count_checked(
    env: dict[str, str],
) -> None:
    assert run_cli("audit", "checkpoint", env=env).status == 0  # anchored: verify says OK
    watched = run_on_terminal("audit", "verify", env=env)
    assert watched.status == 0, watched.stderr
    assert "verifying" in watched.stderr and "\u2501" in watched.stderr  # rich's bar on the terminal
    assert "7/7" in watched.stderr, "the bar ends on every record checked"
    assert watched.stdout.startswith("OK 7 records verified up to seq 7")

    piped = run_cli("audit", "verify", env=env)
    assert piped.status == 0, piped.stderr
    assert piped.stderr == "" and "\x1b" not in piped.stdout
    assert piped.stdout.startswith("OK 7 records verified up to seq 7")


def test_export_shows_a_progress_bar_on_a_terminal_and_plain_output_when_piped(
    env: dict[str, str], tmp_path: Path
) -> None:
    watched = run_on_terminal("audit", "export", "--output", str(tmp_path / "a.jsonl"), env=env)
    assert watched.status == 0, watched.stderr
    assert "exporting" in watched.stderr and "\u2501" in watched.stderr
    assert "7/7" in watched.stderr, "the bar ends on every record exported"
    assert f"exported 7 record(s) to {tmp_path / 'a.jsonl'}" in watched.stderr

    piped = run_cli("audit", "export", "--output", str(tmp_path / "b.jsonl"), env=env)
    assert piped.status == 0, piped.stderr
    assert piped.stderr == f"exported 7 record(s) to {tmp_path / 'b.jsonl'}\n"
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()
