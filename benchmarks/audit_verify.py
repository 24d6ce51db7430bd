"""Verification speed over a large log (default 1,000,000 records on SQLite).

    .venv/bin/python benchmarks/audit_verify.py [--records N] [--runs N] [--fast] [--postgres URL]

The log is generated directly (same `seal` as the writer, inserted in bulk) because appending a million
records through the writer would measure the writer, not `verify`. Each run is the full check, as
`persona-mcp audit verify` makes it: the chain, every record's search columns, and the checkpoints (also
given as held outside the database, so the log is anchored). `--fast` adds a run without the column check
after each full one, for comparison. The load average is printed with every run: the figures move with it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path

from _audit_events import typical_outcome
from sqlalchemy import create_engine, insert, text

from persona_mcp.audit.chain import object_index_rows, seal
from persona_mcp.audit.checkpoint import Checkpoint, sign_checkpoint
from persona_mcp.audit.keys import load_signing_key
from persona_mcp.audit.record import GENESIS_HASH
from persona_mcp.audit.verify import verify_log
from persona_mcp.store import create_store, upgrade
from persona_mcp.store.schema.audit import audit_checkpoints, audit_record_objects, audit_records


async def _fill(url: str, data_dir: Path, count: int) -> list[Checkpoint]:
    store = create_store(url)
    signed: list[Checkpoint] = []
    await upgrade(store)
    key = load_signing_key(data_dir / "audit-signing.key")
    prev, seq = GENESIS_HASH, 0
    started = time.perf_counter()
    while seq < count:
        rows, objects = [], []
        for _ in range(min(20_000, count - seq)):
            seq += 1
            record, row = seal(
                typical_outcome(seq),
                seq=seq,
                prev_hash=prev,
                instance_id="bench",
                timestamp="2026-01-01T00:00:00.000000Z",
            )
            prev = record.hash
            rows.append(row)
            objects.extend({"object_id": o, "seq": s} for o, s in object_index_rows(seq, record.object_ids))
        checkpoint = sign_checkpoint(
            key, seq=seq, hash_=prev, timestamp="2026-01-01T00:00:00.000000Z", instance_id="bench", count=seq
        )
        signed.append(checkpoint)
        async with store.engine.begin() as conn:
            if store.is_sqlite:
                # Generation only: durability per batch is not what is measured here.
                await conn.exec_driver_sql("PRAGMA synchronous=OFF")
            await conn.execute(insert(audit_records), rows)
            if objects:
                await conn.execute(insert(audit_record_objects), objects)
            await conn.execute(insert(audit_checkpoints), [checkpoint.to_row()])
    print(f"generated {count:,} records in {time.perf_counter() - started:.1f}s")
    await store.close()
    return signed


async def _verify(url: str, data_dir: Path, held: list[Checkpoint], *, columns: bool) -> None:
    store = create_store(url)
    public = load_signing_key(data_dir / "audit-signing.key").public_key()
    report = await verify_log(store, trusted_keys=[public], external_checkpoints=held, check_columns=columns)
    await store.close()
    assert report.ok and report.status.value == "ok", report.breaks
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    mode = "full (columns checked)" if columns else "fast (columns NOT checked)"
    print(
        f"{mode}: verified {report.records:,} records, {report.checkpoints_matched} checkpoints, "
        f"in {report.elapsed_s:.2f}s: {report.records_per_second:,.0f} records/s [load {load}]"
    )


def _runs(url: str, data_dir: Path, held: list[Checkpoint], runs: int, fast: bool) -> None:
    for _ in range(runs):
        asyncio.run(_verify(url, data_dir, held, columns=True))
        if fast:
            asyncio.run(_verify(url, data_dir, held, columns=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=1, help="verify runs over the one generated log")
    parser.add_argument("--fast", action="store_true", help="also time each run without the column check")
    parser.add_argument("--postgres", default=None, help="also run on this PostgreSQL URL (fresh schema)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.sqlite3"
        print("sqlite")
        held = asyncio.run(_fill(url, Path(tmp), args.records))
        _runs(url, Path(tmp), held, args.runs, args.fast)
    if args.postgres:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(
            args.postgres.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            with tempfile.TemporaryDirectory() as tmp:
                url = f"{args.postgres}?options=-csearch_path%3D{schema}"
                print("postgresql")
                held = asyncio.run(_fill(url, Path(tmp), args.records))
                _runs(url, Path(tmp), held, args.runs, args.fast)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


if __name__ == "__main__":
    main()
