"""verify finds and names every kind of tampering, on a log of 1,000+ records, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from persona_mcp.audit import AuditLog
from persona_mcp.audit.chain import seal
from persona_mcp.audit.checkpoint import read_checkpoint_file
from persona_mcp.audit.keys import load_signing_key
from persona_mcp.audit.record import GENESIS_HASH, AuditRecord, canonical_bytes, digest
from persona_mcp.audit.verify import BreakKind, VerifyReport, VerifyStatus, verify_log
from persona_mcp.store import Store

from ._support import call_event, drop_append_only_triggers, execute, fill, replace_records, scalar

pytestmark = pytest.mark.anyio

RECORDS = 1200


@pytest.fixture
async def filled(store: Store, data_dir: Path, tmp_path: Path) -> AuditLog:
    """1,200 records with signed checkpoints at 500, 1000 and (on close) 1200, mirrored outside."""
    log = await AuditLog.open(
        store,
        data_dir=data_dir,
        instance_id="tamper",
        checkpoint_every=500,
        external_checkpoint_path=tmp_path / "anchor.jsonl",
    )
    for start in range(0, RECORDS, 100):
        await fill(log, 100, start)
    await log.aclose()
    return log


async def _verify(store: Store, log: AuditLog, *extra_files: Path) -> VerifyReport:
    extra = [cp for path in extra_files for cp in read_checkpoint_file(path)]
    return await verify_log(store, trusted_keys=[log.public_key], external_checkpoints=extra, batch_size=300)


def _only_break(report: VerifyReport) -> tuple[BreakKind, int]:
    assert not report.ok
    first = report.first_break
    assert first is not None
    return first.kind, first.seq


async def test_an_untouched_log_verifies_with_its_checkpoints(
    store: Store, filled: AuditLog, tmp_path: Path
) -> None:
    report = await _verify(store, filled, tmp_path / "anchor.jsonl")
    assert report.ok, report.breaks
    assert report.status is VerifyStatus.OK
    assert report.records == RECORDS
    assert report.checkpoints_matched == 3
    assert report.anchored_through == RECORDS and report.unanchored_records == 0


async def test_an_edited_field_is_found_at_its_record(store: Store, filled: AuditLog) -> None:
    await drop_append_only_triggers(store)
    await execute(store, "UPDATE audit_records SET body = REPLACE(body, 'req_', 'REQ_') WHERE seq = 617")

    assert _only_break(await _verify(store, filled)) == (BreakKind.EDITED, 617)


async def test_an_edit_with_a_recomputed_hash_is_found_at_the_edited_record(
    store: Store, filled: AuditLog
) -> None:
    await drop_append_only_triggers(store)
    body = await scalar(store, "SELECT body FROM audit_records WHERE seq = 617")
    forged = body.replace('"outcome":"ok"', '"outcome":"error"')
    await execute(
        store,
        "UPDATE audit_records SET body = :b, hash = :h WHERE seq = 617",
        {"b": forged, "h": digest(forged.encode())},
    )

    assert _only_break(await _verify(store, filled)) == (BreakKind.EDITED, 617)


async def test_a_deleted_record_is_found_as_a_gap(store: Store, filled: AuditLog) -> None:
    await drop_append_only_triggers(store)
    await execute(store, "DELETE FROM audit_records WHERE seq = 432")

    assert _only_break(await _verify(store, filled)) == (BreakKind.DELETED, 432)


async def test_an_inserted_forged_record_is_found(store: Store, filled: AuditLog) -> None:
    await drop_append_only_triggers(store)
    predecessor = await scalar(store, "SELECT hash FROM audit_records WHERE seq = 799")
    # Make room at 800 by shifting the tail up, then slip in a well-formed record chained to 799.
    await execute(store, "UPDATE audit_records SET seq = -seq - 1 WHERE seq >= 800")
    await execute(store, "UPDATE audit_records SET seq = -seq WHERE seq < 0")
    forged, row = seal(
        call_event(9999, tool="redact_account"),
        seq=800,
        prev_hash=predecessor,
        instance_id="tamper",
        timestamp="2020-01-01T00:00:00.000000Z",
    )
    # The displaced original still says prev_hash=predecessor; point its column at the forgery.
    await execute(store, "UPDATE audit_records SET prev_hash = :h WHERE seq = 801", {"h": forged.hash})
    await execute(
        store,
        "INSERT INTO audit_records (seq, recorded_at, instance_id, kind, prev_hash, hash, body) "
        "VALUES (:seq, :recorded_at, :instance_id, :kind, :prev_hash, :hash, :body)",
        {k: row[k] for k in ("seq", "recorded_at", "instance_id", "kind", "prev_hash", "hash", "body")},
    )

    assert _only_break(await _verify(store, filled)) == (BreakKind.INSERTED, 800)


async def test_two_swapped_records_are_found_as_reordered(store: Store, filled: AuditLog) -> None:
    await drop_append_only_triggers(store)
    await execute(store, "UPDATE audit_records SET seq = -1 WHERE seq = 250")
    await execute(store, "UPDATE audit_records SET seq = 250 WHERE seq = 251")
    await execute(store, "UPDATE audit_records SET seq = 251 WHERE seq = -1")

    assert _only_break(await _verify(store, filled)) == (BreakKind.REORDERED, 250)


async def test_a_truncated_tail_is_found_against_the_last_checkpoint(store: Store, filled: AuditLog) -> None:
    await drop_append_only_triggers(store)
    await execute(store, "DELETE FROM audit_records WHERE seq > 1100")

    assert _only_break(await _verify(store, filled)) == (BreakKind.TRUNCATED, 1101)


async def test_truncation_hidden_from_the_database_is_found_against_the_external_file(
    store: Store, filled: AuditLog, tmp_path: Path
) -> None:
    await drop_append_only_triggers(store)
    await execute(store, "DELETE FROM audit_records WHERE seq > 1100")
    await execute(store, "DELETE FROM audit_checkpoints WHERE seq > 1000")

    assert _only_break(await _verify(store, filled, tmp_path / "anchor.jsonl")) == (BreakKind.TRUNCATED, 1101)


async def _rebuild_whole_chain(store: Store, count: int) -> None:
    """Replace every record with a consistent, recomputed chain (the attacker has no signing key)."""
    await drop_append_only_triggers(store)
    await execute(store, "DELETE FROM audit_checkpoints")
    prev = GENESIS_HASH
    rows = []
    for seq in range(1, count + 1):
        record, row = seal(
            call_event(seq, principal="someone-else"),
            seq=seq,
            prev_hash=prev,
            instance_id="tamper",
            timestamp="2020-01-01T00:00:00.000000Z",
        )
        prev = record.hash
        rows.append(row)
    await replace_records(store, rows)


async def test_a_whole_table_replaced_by_a_recomputed_chain_is_found_against_a_signed_checkpoint(
    store: Store, filled: AuditLog, tmp_path: Path
) -> None:
    anchor = tmp_path / "anchor.jsonl"
    await _rebuild_whole_chain(store, RECORDS)

    clean_without_anchor = await _verify(store, filled)
    assert clean_without_anchor.ok, "with no checkpoint left, a rebuilt chain is self-consistent"
    assert clean_without_anchor.status is VerifyStatus.UNANCHORED, "and nothing outside vouches for it"
    assert _only_break(await _verify(store, filled, anchor)) == (BreakKind.REWRITTEN, 1)


async def test_a_checkpoint_altered_to_match_a_rewrite_has_a_bad_signature(
    store: Store, filled: AuditLog
) -> None:
    await drop_append_only_triggers(store)
    await execute(store, "UPDATE audit_checkpoints SET hash = :h WHERE seq = 500", {"h": "f" * 64})

    report = await _verify(store, filled)
    assert (BreakKind.BAD_SIGNATURE, 500) in {(b.kind, b.seq) for b in report.breaks}


async def test_a_checkpoint_signed_by_another_key_is_not_trusted(
    store: Store, filled: AuditLog, tmp_path: Path
) -> None:
    from persona_mcp.audit.checkpoint import sign_checkpoint

    head = await scalar(store, "SELECT hash FROM audit_records WHERE seq = 1200")
    impostor = sign_checkpoint(
        load_signing_key(tmp_path / "impostor.key"),
        seq=1200,
        hash_=head,
        timestamp="2020-01-01T00:00:00.000000Z",
        instance_id="x",
        count=1200,
    )
    report = await verify_log(store, trusted_keys=[filled.public_key], external_checkpoints=[impostor])
    assert [b.kind for b in report.breaks] == [BreakKind.BAD_SIGNATURE]


def test_the_top_level_seq_and_prev_hash_are_read_correctly_despite_nested_keys() -> None:
    from persona_mcp.audit.record import claimed_prev_hash, claimed_seq

    event = call_event(1, arguments={"prev_hash": "a" * 64, "seq": 99, "note": '"prev_hash":"' + "b" * 64})
    fields = event.model_dump(mode="json") | {
        "seq": 5,
        "timestamp": "2020-01-01T00:00:00.000000Z",
        "instance_id": "i",
        "prev_hash": "c" * 64,
    }
    body = canonical_bytes(fields).decode()
    assert claimed_seq(body) == 5
    assert claimed_prev_hash(body) == "c" * 64
    assert AuditRecord.from_stored(body, digest(body.encode())).seq == 5


async def test_plain_verification_finds_an_index_column_edited_to_hide_a_record(
    store: Store, filled: AuditLog
) -> None:
    await drop_append_only_triggers(store)
    await execute(store, "UPDATE audit_records SET principal = 'nobody' WHERE seq = 90")

    assert _only_break(await _verify(store, filled)) == (BreakKind.EDITED, 90)
    fast = await verify_log(store, trusted_keys=[filled.public_key], check_columns=False, batch_size=300)
    assert fast.ok and not fast.columns_checked, "the hashed bodies are intact: only the columns lie"
