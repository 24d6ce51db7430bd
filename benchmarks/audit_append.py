"""Appends per second through `AuditLog.append` (group commit), at 1 and 64 concurrent writers.

    .venv/bin/python benchmarks/audit_append.py [--postgres URL] [--no-postgres] [--records N]
        [--writers 1 64] [--work-ms MS]

Each writer awaits its own durable commit, as the call pipeline does; the log batches whatever is
queued into one transaction. Prints one line per (database, writers): appends/s, the mean wait from
`append` to durable, and the event loop's own CPU per append.

`--work-ms` makes each writer a call: that much CPU on the event loop (a busy-wait) before each append,
marked in flight (`AuditLog.call_in_flight`) as the pipeline marks a call, so the log sees a loop as busy
as a server's. The loop's CPU per append is then printed without that work: what the audit log costs the
loop, the figure that decides where commits should run (issue 18: a PostgreSQL writer on the loop instead
of the thread cost the loop 304-357 us an append against 73-86, for the same appends/s). Run it with
`PYTHONPATH=<other checkout>/src` to compare two versions, alternated.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from _audit_events import typical_outcome
from sqlalchemy import create_engine, text

from persona_mcp.audit import AuditLog
from persona_mcp.store import create_store, upgrade


@dataclass(frozen=True, slots=True)
class Figures:
    appends_per_s: float
    durable_ms: float
    loop_cpu_us: float
    """The event loop's CPU per append, the writers' simulated work excluded."""

    def line(self, database: str, writers: int, records: int) -> str:
        return (
            f"{database:<11} writers={writers:>3} records={records:>6}  {self.appends_per_s:>9,.0f} appends/s"
            f"  durable {self.durable_ms:6.2f} ms  loop CPU {self.loop_cpu_us:5.0f} us/append"
        )


def _work(seconds: float) -> None:
    """CPU on the event loop, as a call's own work would take it."""
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        pass


async def _run(url: str, data_dir: Path, writers: int, records: int, work_ms: float = 0.0) -> Figures:
    store = create_store(url)
    await upgrade(store)
    log = await AuditLog.open(store, data_dir=data_dir, instance_id=f"bench-{writers}")
    per_writer = records // writers
    waits: list[float] = []

    async def writer(w: int) -> None:
        for i in range(per_writer):
            if work_ms:
                _work(work_ms / 1000)
                await asyncio.sleep(0)  # the rest of the loop's pass runs, as between a call's steps
            with log.call_in_flight():
                began = time.perf_counter()
                await log.append(typical_outcome(w * per_writer + i))
                waits.append(time.perf_counter() - began)

    started, loop_cpu = time.perf_counter(), time.thread_time()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    elapsed, loop_cpu = time.perf_counter() - started, time.thread_time() - loop_cpu
    await log.aclose()
    await store.close()
    appends = per_writer * writers
    return Figures(
        appends_per_s=appends / elapsed,
        durable_ms=1000 * statistics.mean(waits),
        loop_cpu_us=1e6 * loop_cpu / appends - 1000 * work_ms,
    )


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
    parser.add_argument(
        "--records", type=int, default=5000, help="records at the most writers (a tenth, >= 500, below)"
    )
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 64], help="concurrent writers")
    parser.add_argument(
        "--work-ms", type=float, default=0.0, help="CPU each writer spends on the loop before each append"
    )
    args = parser.parse_args()
    most = max(args.writers)
    for writers in args.writers:
        records = args.records if writers == most else max(500, args.records // 10)
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/bench.sqlite3"
            figures = asyncio.run(_run(url, Path(tmp), writers, records, args.work_ms))
            print(figures.line("sqlite", writers, records))
        if not args.no_postgres:
            url, schema = _pg_schema(args.postgres)
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    figures = asyncio.run(_run(url, Path(tmp), writers, records, args.work_ms))
                print(figures.line("postgresql", writers, records))
            finally:
                _drop_pg_schema(args.postgres, schema)


if __name__ == "__main__":
    main()
