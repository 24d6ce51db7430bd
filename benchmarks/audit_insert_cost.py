"""The audit writer's CPU per record on SQLite, as shipped and without parts of the schema, side by side.

`gil_breakdown.py` shows that persona-mcp's largest cost outside Python is the audit log's commit on the
writer thread. This times that commit alone: the shipped `SqliteCommitter` extends a real log (migrated
by the shipped migrations) with the 80/20 mix's records (a `get_account` outcome; a `create_account`
intent and its outcome), built as the pipeline builds them, and the CPU of the committing thread
(`time.thread_time`: Python, SQLite's C and the kernel's work for the WAL writes and the fsync, all
charged to the thread that asks for them) is divided by the records committed. Each variant runs on its
own fresh log, first filled with `--prefill` calls so that its B-trees have depth, and the variants
alternate run by run so that all see the same machine:

- `as shipped`;
- `without search indexes`: every `ix_audit_records_*` index dropped except `call_kind`, which the
  open-calls statements read: what the console's searches cost each record written (the ceiling of what
  reviewing them could save);
- `without fsync`: `synchronous=NORMAL`, so a commit does not wait for the disk: the fsync's share. Not
  shippable (a record must be durable before the call returns), shown for scale only;
- `without INDEX`, one per `--without INDEX` given.

    .venv/bin/python benchmarks/audit_insert_cost.py [--calls 3000] [--prefill 20000] [--runs 3]
        [--batch 1 4] [--without ix_audit_records_recorded_at ...]

Prints the median microseconds per record for each variant and batch size (a batch is the records one
commit carries: 1 on an idle server, more when calls arrive together) and the difference to `as shipped`;
the last line is the shipped figure.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from persona_mcp.audit import AuditEvent
from persona_mcp.audit.chain import Batch, ChainPolicy
from persona_mcp.audit.committer import SqliteCommitter
from persona_mcp.audit.record import utc_timestamp
from persona_mcp.store import create_store, upgrade
from persona_mcp.store.schema.audit import audit_records

#: Read by the open-calls statements (`audit.open_calls`): never dropped by `without search indexes`.
_KEPT = "ix_audit_records_call_kind"
SHIPPED, NO_SEARCH, NO_FSYNC = "as shipped", "without search indexes", "without fsync"


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    drop: tuple[str, ...] = ()
    synchronous: str = "FULL"


def variants(without: list[str]) -> list[Variant]:
    search = tuple(
        sorted(
            ix.name
            for ix in audit_records.indexes
            if ix.name and ix.name.startswith("ix_") and ix.name != _KEPT
        )
    )
    return [
        Variant(SHIPPED),
        Variant(NO_SEARCH, drop=search),
        Variant(NO_FSYNC, synchronous="NORMAL"),
        *(Variant(f"without {name}", drop=(name,)) for name in without),
    ]


def _calls(account_id: str) -> Iterator[list[dict[str, Any]]]:
    """Each call's events, dumped as the log queues them: 4 reads, then a create, over and over."""
    common = {
        "principal": "bench-agent",
        "grant_id": "grt_55826790431ee8b8",
        "client_name": "mcp",
        "client_version": "0.1.0",
        "decision": "allowed",
    }
    for k in range(10**12):
        call_id = uuid.uuid4().hex
        request_id = f"req_{uuid.uuid4().hex[:24]}"
        if k % 5 != 4:
            read = AuditEvent(
                kind="call.outcome",
                call_id=call_id,
                tool="get_account",
                scope="accounts:read",
                arguments={"account_id": account_id},
                object_ids=[account_id],
                outcome="ok",
                attempts=1,
                latency_ms=1.4,
                upstream_method="GET",
                upstream_path=f"/accounts/{account_id}",
                upstream_status=200,
                persona_request_id=request_id,
                **common,
            )
            yield [read.model_dump(mode="json")]
            continue
        created = f"act_{uuid.uuid4().hex[:24]}"
        write = {
            "call_id": call_id,
            "tool": "create_account",
            "scope": "accounts:write",
            "arguments": {"reference_id": "hmac-sha256:" + "ab" * 32},
            "idempotency_key": str(uuid.uuid4()),
            **common,
        }
        intent = AuditEvent(kind="call.intent", **{**write, "decision": None})
        outcome = AuditEvent(
            kind="call.outcome",
            object_ids=[created],
            outcome="ok",
            attempts=1,
            latency_ms=3.2,
            upstream_method="POST",
            upstream_path="/accounts",
            upstream_status=201,
            persona_request_id=request_id,
            **write,
        )
        yield [intent.model_dump(mode="json"), outcome.model_dump(mode="json")]


async def _fresh_log(path: Path, variant: Variant) -> None:
    store = create_store(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade(store)
        async with store.engine.begin() as conn:
            for name in variant.drop:
                await conn.exec_driver_sql(f"DROP INDEX {name}")
    finally:
        await store.close()


def _committer(path: Path, variant: Variant) -> SqliteCommitter:
    policy = ChainPolicy(
        instance_id="bench",
        signing_key=Ed25519PrivateKey.generate(),
        checkpoint_every=1000,
        clock=utc_timestamp,
    )
    synchronous = {"FULL": 2, "NORMAL": 1}[variant.synchronous]
    return SqliteCommitter(policy, str(path), synchronous=synchronous, busy_timeout_ms=5000)


def _commit_calls(committer: SqliteCommitter, calls: list[list[dict[str, Any]]], batch: int) -> int:
    """Commit the calls' records in batches of `batch` records; the records committed."""
    pending: list[dict[str, Any]] = []
    records = 0
    for events in calls:
        pending.extend(events)
        if len(pending) >= batch:
            records += len(committer.commit(Batch(events=pending)).records)
            pending = []
    if pending:
        records += len(committer.commit(Batch(events=pending)).records)
    return records


def measure(variant: Variant, *, calls: int, prefill: int, batch: int, scratch: Path) -> float:
    """Microseconds of the committing thread's CPU per record, on a fresh log."""
    path = scratch / f"{uuid.uuid4().hex}.sqlite3"
    asyncio.run(_fresh_log(path, variant))
    committer = _committer(path, variant)
    source = _calls(f"act_{uuid.uuid4().hex[:24]}")
    try:
        _commit_calls(committer, list(itertools.islice(source, prefill)), 64)
        # Built before the clock: the server builds and dumps events on its event loop, not the writer.
        timed = list(itertools.islice(source, calls))
        started = time.thread_time()
        records = _commit_calls(committer, timed, batch)
        return (time.thread_time() - started) / records * 1e6
    finally:
        committer.close()
        for leftover in scratch.glob(f"{path.name}*"):
            leftover.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=3000, help="calls timed per variant and batch size")
    parser.add_argument("--prefill", type=int, default=20_000, help="calls in each log before timing")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 4], help="records per commit")
    parser.add_argument("--without", action="append", default=[], metavar="INDEX", help="one more variant")
    args = parser.parse_args()
    chosen = variants(args.without)
    found: dict[tuple[str, int], list[float]] = {}
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="persona-mcp-audit-insert-") as scratch:
        for run in range(args.runs):
            for variant in chosen if run % 2 == 0 else list(reversed(chosen)):
                for batch in args.batch:
                    cost = measure(
                        variant, calls=args.calls, prefill=args.prefill, batch=batch, scratch=Path(scratch)
                    )
                    found.setdefault((variant.name, batch), []).append(cost)
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"writer CPU per record, us (median of {args.runs} runs; difference to {SHIPPED!r}):")
    for variant in chosen:
        for batch in args.batch:
            runs = found[(variant.name, batch)]
            cost = statistics.median(runs)
            delta = cost - statistics.median(found[(SHIPPED, batch)])
            spread = ", ".join(f"{x:.0f}" for x in runs)
            shown = "" if variant.name == SHIPPED else f" ({delta:+.0f})"
            print(f"  {variant.name:48s} batch {batch:3d}: {cost:6.0f}{shown:8s} runs: {spread}")
    shipped = ", ".join(f"{statistics.median(found[(SHIPPED, b)]):.0f} at batch {b}" for b in args.batch)
    print(f"as shipped: {shipped} (us of the writer's CPU per record)")


if __name__ == "__main__":
    main()
