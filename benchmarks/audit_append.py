"""Appends per second through `AuditLog.append` (group commit), at 1 and 64 concurrent writers.

    .venv/bin/python benchmarks/audit_append.py [--postgres URL] [--records N]

Each writer awaits its own durable commit, as the call pipeline does; the log batches whatever is
queued into one transaction. Prints one line per (database, writers).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from _audit_events import typical_outcome
from sqlalchemy import create_engine, text

from persona_mcp.audit import AuditLog
from persona_mcp.store import create_store, upgrade


async def _run(url: str, data_dir: Path, writers: int, records: int) -> float:
    store = create_store(url)
    await upgrade(store)
    log = await AuditLog.open(store, data_dir=data_dir, instance_id=f"bench-{writers}")
    per_writer = records // writers

    async def writer(w: int) -> None:
        for i in range(per_writer):
            await log.append(typical_outcome(w * per_writer + i))

    started = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    elapsed = time.perf_counter() - started
    await log.aclose()
    await store.close()
    return per_writer * writers / elapsed


def _pg_schema(base: str) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return f"{base}?options=-csearch_path%3D{schema}", schema


def _drop_pg_schema(base: str, schema: str) -> None:
    admin = create_engine(
        base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--records", type=int, default=5000, help="records per run at 64 writers")
    args = parser.parse_args()
    for writers, records in ((1, max(500, args.records // 10)), (64, args.records)):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/bench.sqlite3"
            rate = asyncio.run(_run(url, Path(tmp), writers, records))
            print(f"sqlite      writers={writers:>3} records={records:>6}  {rate:>9,.0f} appends/s")
        if not args.no_postgres:
            url, schema = _pg_schema(args.postgres)
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    rate = asyncio.run(_run(url, Path(tmp), writers, records))
                print(f"postgresql  writers={writers:>3} records={records:>6}  {rate:>9,.0f} appends/s")
            finally:
                _drop_pg_schema(args.postgres, schema)


if __name__ == "__main__":
    main()
