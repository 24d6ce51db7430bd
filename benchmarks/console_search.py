"""Console audit search over a large log: time to the first page (with its total) through the console.

    .venv/bin/python benchmarks/console_search.py [--records N] [--runs N] [--postgres URL] [--no-sqlite]

A log of `--records` (default 1,000,000) varied records is generated directly (sealed as the writer seals,
inserted in bulk): 50 agents, 20,000 accounts, 5 % denied calls, writes with an intent and an outcome, a few
unresolved calls, spread over 60 days up to now. Then each search a reviewer makes is requested through the
console's own HTTP handler (ASGI, in process, signed in with a person's grant), `--runs` times; the median
and the worst time to the complete first page are printed, with the machine's load. Target: every first
page under 300 ms on SQLite and PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
from sqlalchemy import insert, text

from persona_mcp.audit import AuditEvent
from persona_mcp.audit.chain import object_index_rows, seal
from persona_mcp.audit.open_calls import rebuild_statement
from persona_mcp.audit.record import GENESIS_HASH, utc_timestamp
from persona_mcp.auth.environment import Environment
from persona_mcp.auth.grant import GrantDraft, PrincipalKind
from persona_mcp.auth.scopes import parse_scopes
from persona_mcp.server.app import open_server
from persona_mcp.server.run import http_app_for
from persona_mcp.store import create_store, upgrade
from persona_mcp.store.schema.audit import audit_record_objects, audit_records
from persona_mcp.testing import sandbox_settings

TOOLS = ("get_account", "list_accounts", "get_inquiry", "search_accounts", "update_account", "create_account")
TARGET_MS = 300.0


class _Calls:
    """Varied calls as the pipeline records them: a read is one outcome, a write an intent then its
    outcome under the same call id (about one in a thousand left without one: unresolved), a denial one
    record."""

    def __init__(self, seed: int = 7) -> None:
        self._rng = random.Random(seed)
        self._pending: AuditEvent | None = None

    def next(self, i: int) -> AuditEvent:
        rng = self._rng
        if self._pending is not None:
            intent, self._pending = self._pending, None
            return intent.model_copy(update={"kind": "call.outcome", "outcome": "ok", "upstream_status": 200})
        tool = rng.choice(TOOLS)
        agent = f"agent-{rng.randrange(50)}"
        account = f"act_{rng.randrange(20_000):024d}"
        write = tool in ("update_account", "create_account")
        denied = rng.random() < 0.05
        kind = "call.denied" if denied else ("call.intent" if write else "call.outcome")
        event = AuditEvent(
            kind=kind,
            call_id=uuid.UUID(int=rng.getrandbits(128)).hex,
            principal=agent,
            grant_id=f"grt_{agent}",
            tool=tool,
            scope="accounts:write" if write else "accounts:read",
            decision="denied" if denied else "allowed",
            reason="the grant lacks accounts:write" if denied else None,
            arguments={"account_id": account, "email": "hmac-sha256:" + "ab" * 32},
            object_ids=[account],
            outcome=None if kind != "call.outcome" else ("error" if rng.random() < 0.02 else "ok"),
            upstream_status=None if kind != "call.outcome" else 200,
        )
        if kind == "call.intent" and rng.random() >= 0.001:
            self._pending = event
        return event


async def _fill(url: str, count: int, instance_id: str = "bench") -> None:
    """`count` varied records, sealed as `instance_id`'s writer seals them, and the open-calls set."""
    store = create_store(url)
    await upgrade(store)
    calls = _Calls()
    start = datetime.now(UTC) - timedelta(days=60)
    step = timedelta(days=60) / count
    prev, seq = GENESIS_HASH, 0
    started = time.perf_counter()
    while seq < count:
        rows, objects = [], []
        for _ in range(min(20_000, count - seq)):
            seq += 1
            stamp = utc_timestamp(start + step * seq)
            record, row = seal(
                calls.next(seq), seq=seq, prev_hash=prev, instance_id=instance_id, timestamp=stamp
            )
            prev = record.hash
            rows.append(row)
            objects.extend({"object_id": o, "seq": s} for o, s in object_index_rows(seq, record.object_ids))
        async with store.engine.begin() as conn:
            if store.is_sqlite:
                await conn.exec_driver_sql("PRAGMA synchronous=OFF")
            await conn.execute(insert(audit_records), rows)
            await conn.execute(insert(audit_record_objects), objects)
    # The open-calls set the committer would have kept, built from the log as migration 0011 does.
    async with store.engine.begin() as conn:
        await conn.execute(rebuild_statement())
    # What autovacuum (PostgreSQL) and `PRAGMA optimize` at start (SQLite) do for a live server.
    if store.is_sqlite:
        async with store.engine.begin() as conn:
            await conn.exec_driver_sql("ANALYZE")
    else:
        async with store.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("VACUUM ANALYZE audit_records")
            await conn.exec_driver_sql("VACUUM ANALYZE audit_record_objects")
            await conn.exec_driver_sql("VACUUM ANALYZE audit_open_calls")
    await store.close()
    print(f"generated {count:,} records in {time.perf_counter() - started:.1f}s", flush=True)


SEARCHES: list[tuple[str, dict[str, str]]] = [
    ("newest, no filter", {}),
    ("one agent", {"principal": "agent-7"}),
    ("one account", {"object": f"act_{1234:024d}"}),
    (
        "agent X on account Y, last 7 days",
        {"principal": "agent-7", "object": f"act_{1234:024d}", "since": "7d"},
    ),
    ("denied calls", {"decision": "denied"}),
    ("denied calls of one agent, 24 h", {"decision": "denied", "principal": "agent-3", "since": "24h"}),
    ("last hour", {"since": "1h"}),
    # A window far from the newest records: a walk of the log from its end finds nothing for 59 days (as
    # "the last hour" after a quiet night finds nothing in the whole log).
    ("the oldest day", {"until": "1416h"}),
    ("one tool, errors", {"tool": "get_account", "outcome": "error"}),
    ("kind call.intent", {"kind": "call.intent"}),
    ("unresolved calls", {"unresolved": "1"}),
    ("call id prefix", {"call": "3f2a"}),
]


async def _measure(url: str, data_dir: Path, runs: int) -> list[float]:
    settings = sandbox_settings(data_dir)
    settings.database_url = url
    worst: list[float] = []
    async with open_server(settings, transport="http", resource_url="http://127.0.0.1:1/mcp") as app:
        draft = GrantDraft(
            principal="reviewer",
            environment=Environment.SANDBOX,
            scopes=parse_scopes(["audit:read", "audit:all_environments"]),
            principal_kind=PrincipalKind.PERSON,
        )
        token = (await app.grants.create(draft, actor="bench")).token
        asgi = http_app_for(app, settings, "http://127.0.0.1:1/mcp", "127.0.0.1")
        transport = httpx2.ASGITransport(app=asgi)
        async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            page = await http.get("/console/signin")
            csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
            await http.post("/console/signin", data={"token": token, "csrf": csrf})
            for label, params in SEARCHES:
                times = []
                total = ""
                for _ in range(runs):
                    started = time.perf_counter()
                    response = await http.get("/console/audit", params=params)
                    times.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, response.text[:300]
                    total = (
                        response.text.split('<span id="total">')[1].split("<")[0]
                        if 'id="total"' in response.text
                        else "0"
                    )
                load = os.getloadavg()[0]
                print(
                    f"  {label:<40} total {total:>9}  median {statistics.median(times):7.1f} ms  "
                    f"worst {max(times):7.1f} ms  (load {load:.2f})",
                    flush=True,
                )
                worst.append(max(times))
    return worst


async def _run(args: argparse.Namespace) -> None:
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_sqlite:
            url = f"sqlite+aiosqlite:///{tmp}/search.db"
            await _fill(url, args.records)
            print(f"SQLite, {args.records:,} records:")
            results["sqlite"] = max(await _measure(url, Path(tmp) / "sqlite", args.runs))
        if args.postgres:
            schema = f"bench_console_{uuid.uuid4().hex[:8]}"
            admin = create_store(args.postgres)
            async with admin.engine.begin() as conn:
                await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            url = f"{args.postgres}?options=-csearch_path%3D{schema}"
            try:
                await _fill(url, args.records)
                print(f"PostgreSQL, {args.records:,} records:")
                results["postgresql"] = max(await _measure(url, Path(tmp) / "pg", args.runs))
            finally:
                async with admin.engine.begin() as conn:
                    await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                await admin.close()
    verdict = ", ".join(f"{db} worst first page {ms:.0f} ms" for db, ms in results.items())
    ok = all(ms < TARGET_MS for ms in results.values())
    print(f"{verdict}; target < {TARGET_MS:.0f} ms: {'met' if ok else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--postgres", default=None, help="PostgreSQL URL, e.g. postgresql://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--no-sqlite", action="store_true")
    asyncio.run(_run(parser.parse_args()))


if __name__ == "__main__":
    main()
