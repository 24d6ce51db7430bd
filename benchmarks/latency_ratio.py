"""get_account latency: persona-mcp over streamable HTTP against a bare pass-through MCP server.

    .venv/bin/python benchmarks/latency_ratio.py [--calls N] [--warmup N] [--mode MODE ...]
        [--database-url postgresql://postgres@127.0.0.1:5432/test] [--profile N]

Everything runs on loopback sockets in one process: the Persona sandbox (seed "demo") under uvicorn,
server A (persona-mcp: bearer grant token, authorization, validation, audit, masking) and server B (the
bare `mcp.server.lowlevel.Server` of `_bare_server.py`, whose `get_account` does a single GET to the same
sandbox and returns the JSON). Each has one client session; after a warm-up the calls alternate A, B,
A, B so both see the same machine conditions. Prints median and p95 of per-call wall time for each and
the ratios A/B.

Modes:
  durable    as shipped: SQLite WAL with synchronous=FULL (or PostgreSQL with the server's defaults),
             every call waits for an fsync'd audit record. The "audit on" figure (target <= 1.35).
  nosync     the same records, hashed, signed, inserted and committed, but the commit does not wait for
             the disk (SQLite synchronous=OFF, PostgreSQL synchronous_commit=off). No target: next to
             `durable` it shows how much of the audit's cost is the fsync.
  floor      not persona-mcp: server A is the bare server committing one small row durably before it
             answers (`_bare_server.durable_log`, on the same database: an SQLite file with WAL and
             synchronous=FULL, or the PostgreSQL schema). No target: next to `durable` it shows what the
             durability promise costs any server here, and so how much of `durable`'s ratio is persona-mcp.
  unaudited  the tool layer alone, which is what the tool catalogue's target (<= 1.25) was set for before
             the audit log existed (the audit log's own budget is the 0.10 between 1.25 and 1.35). The
             pipeline still builds and redacts every record; only `AuditLog.append` is replaced, inside
             this benchmark process and only while the calls are measured, by one that stores nothing.
             The server itself has no way to run unaudited.

`--phases N` runs N more interleaved pairs with timers around persona-mcp's own steps (credential lookup,
upstream call, audit append, ...) and prints each step's time per call: where A's extra time goes.
`--profile N` runs N more persona-mcp calls under cProfile (client, both servers and the sandbox share
the process, so read it next to the baseline) and prints the functions with the most own time.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import inspect
import pstats
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
from _bare_server import PERSONA_HEADERS, open_bare_server
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from sqlalchemy import create_engine, event, text

from persona_mcp.audit import AuditEvent, AuditLog
from persona_mcp.auth.callers import CallerResolver
from persona_mcp.auth.credentials.resolver import CredentialResolver
from persona_mcp.logs import configure_logging
from persona_mcp.persona.client import PersonaClient
from persona_mcp.sandbox import DEFAULT_API_KEY
from persona_mcp.server.app import open_server
from persona_mcp.server.pipeline import CallPipeline
from persona_mcp.server.run import http_app_for
from persona_mcp.server.serving import free_port, serving
from persona_mcp.store import Store, create_store
from persona_mcp.testing import issue_grant, sandbox_app, sandbox_settings

MODES = ("durable", "nosync", "floor", "unaudited")
TARGETS: dict[str, float] = {"durable": 1.35, "unaudited": 1.25}
_CALL_TIMEOUT_S = 30.0

Call = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Figures:
    median_ms: float
    p95_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> Figures:
        return cls(statistics.median(seconds) * 1000, statistics.quantiles(seconds, n=100)[94] * 1000)


# -- server B: the bare pass-through (`_bare_server.py`, as throughput.py and peer.py serve it) ----------


@asynccontextmanager
async def _baseline(sandbox_url: str, commit_to: str | None = None) -> AsyncIterator[str]:
    async with open_bare_server(
        sandbox_url, DEFAULT_API_KEY, timeout_s=_CALL_TIMEOUT_S, commit_to=commit_to
    ) as server:
        async with serving(server.streamable_http_app(), free_port()) as url:
            yield f"{url}/mcp"


@asynccontextmanager
async def _floor(sandbox_url: str, data_dir: Path, database_url: str | None) -> AsyncIterator[Client]:
    """The `floor` mode's server A: the bare server committing each outcome durably on A's database."""
    commit_to = database_url or str(data_dir / "floor.sqlite3")
    async with _baseline(sandbox_url, commit_to) as url, _plain_client(url) as client:
        yield client


# -- server A: persona-mcp ------------------------------------------------------------------------------


def _store_for(mode: str, data_dir: Path, database_url: str | None) -> Store:
    """The store the server opens; `nosync` adds a connect hook that runs after the server's own pragmas."""
    if database_url is not None:
        if mode == "nosync":
            database_url += "%20-csynchronous_commit%3Doff"
        return create_store(database_url)
    store = create_store(f"sqlite+aiosqlite:///{data_dir}/persona-mcp.sqlite3")
    if mode == "nosync":
        event.listen(store.engine.sync_engine, "connect", _synchronous_off)
    return store


def _synchronous_off(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


@asynccontextmanager
async def _persona(
    sandbox_url: str, data_dir: Path, mode: str, database_url: str | None
) -> AsyncIterator[Client]:
    settings = sandbox_settings(data_dir, base_url=f"{sandbox_url}/api/v1")
    store = _store_for(mode, data_dir, database_url)
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    try:
        async with open_server(settings, transport="http", resource_url=resource, store=store) as app:
            token = await issue_grant(app, ["accounts:read"], principal="bench-agent")
            async with serving(http_app_for(app, settings, resource, "127.0.0.1"), port):
                headers = {"Authorization": f"Bearer {token}"}
                async with httpx2.AsyncClient(headers=headers, timeout=_CALL_TIMEOUT_S) as http:
                    async with Client(streamable_http_client(resource, http_client=http)) as client:
                        yield client
    finally:
        await store.close()


@asynccontextmanager
async def _plain_client(url: str) -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(timeout=_CALL_TIMEOUT_S) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            yield client


# -- measuring --------------------------------------------------------------------------------------------


def _caller(client: Client, account_id: str, label: str) -> Call:
    async def call() -> None:
        with anyio.fail_after(_CALL_TIMEOUT_S):
            result = await client.call_tool("get_account", {"account_id": account_id})
        if result.is_error:
            raise RuntimeError(f"{label}: get_account failed: {result.content}")

    return call


async def _timed(call: Call) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


async def _interleaved(a: Call, b: Call, warmup: int, calls: int) -> tuple[list[float], list[float]]:
    for _ in range(warmup):
        await a()
        await b()
    a_times: list[float] = []
    b_times: list[float] = []
    for _ in range(calls):
        a_times.append(await _timed(a))
        b_times.append(await _timed(b))
    return a_times, b_times


async def _profile(a: Call, calls: int, top: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        await a()
    profiler.disable()
    print(f"\ncProfile of {calls} persona-mcp calls (whole process), top {top} by own time:")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)
    print(f"top {top} by cumulative time:")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(top)


#: persona-mcp steps timed by `--phases`: (class, method, label). Sync and async methods both work.
_PHASES: tuple[tuple[type, str, str], ...] = (
    (CallPipeline, "call", "pipeline.call (all of the below and validation)"),
    (CallerResolver, "resolve", "caller resolution (bearer token, cached)"),
    (CallPipeline, "visible_to", "tools/list filter (SDK Mcp-Param header check)"),
    (CredentialResolver, "provider_for", "credential lookup (database)"),
    (PersonaClient, "_call", "upstream Persona GET"),
    (AuditLog, "append", "audit append (committed record)"),
    (CallPipeline, "_answer", "result dump, masking, JSON text"),
)


@contextmanager
def _phase_timers() -> Iterator[dict[str, list[float]]]:
    """Wrap each step in `_PHASES` with a timer for the block; the originals are restored afterwards."""
    spent: dict[str, list[float]] = {label: [] for _, _, label in _PHASES}
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in _PHASES]
    for (owner, name, original), (_, _, label) in zip(originals, _PHASES, strict=True):
        setattr(owner, name, _timed_method(original, spent[label]))
    try:
        yield spent
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def _timed_method(original: Callable[..., Any], into: list[float]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(original):

        @functools.wraps(original)
        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                into.append(time.perf_counter() - started)

        return timed_async

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            into.append(time.perf_counter() - started)

    return timed


async def _phases(a: Call, b: Call, calls: int) -> None:
    with _phase_timers() as spent:
        a_times, b_times = await _interleaved(a, b, 0, calls)
    extra = (statistics.median(a_times) - statistics.median(b_times)) * 1000
    print(
        f"\npersona-mcp steps over {calls} more interleaved calls (A-B median {extra:.2f} ms), ms per call:"
    )
    for label, seconds in spent.items():
        if seconds:
            median, mean = statistics.median(seconds) * 1000, statistics.mean(seconds) * 1000
            print(f"  {label:<50} median {median:6.2f}   mean {mean:6.2f}   (x{len(seconds) / calls:.0f})")


async def _first_account(sandbox_url: str) -> str:
    async with httpx2.AsyncClient(timeout=_CALL_TIMEOUT_S) as http:
        response = await http.get(
            f"{sandbox_url}/api/v1/accounts",
            headers={"Authorization": f"Bearer {DEFAULT_API_KEY}", **PERSONA_HEADERS},
        )
        response.raise_for_status()
        account_id: str = response.json()["data"][0]["id"]
        return account_id


def _report(mode: str, backend: str, a: Figures, b: Figures) -> None:
    median_ratio, p95_ratio = a.median_ms / b.median_ms, a.p95_ms / b.p95_ms
    target = TARGETS.get(mode)
    if mode == "floor":
        verdict = "no target (compare with durable: what the durability promise costs any server)"
    elif target is None:
        verdict = "no target (compare with durable: the fsync's share)"
    else:
        met = max(median_ratio, p95_ratio) <= target
        verdict = f"target <= {target:.2f}: " + ("meets" if met else "MISSES")
    print(f"mode={mode} store={backend}")
    label = "floor      " if mode == "floor" else "persona-mcp"
    print(f"  {label}  median {a.median_ms:7.2f} ms   p95 {a.p95_ms:7.2f} ms")
    print(f"  bare server  median {b.median_ms:7.2f} ms   p95 {b.p95_ms:7.2f} ms")
    print(f"  ratio A/B    median {median_ratio:7.2f}      p95 {p95_ratio:7.2f}      {verdict}")


@contextmanager
def _appends_skipped(mode: str) -> Iterator[None]:
    """For `unaudited`: `AuditLog.append` stores nothing while the block runs, then is restored."""
    if mode != "unaudited":
        yield
        return
    original = AuditLog.append

    async def store_nothing(_log: AuditLog, _event: AuditEvent) -> None:
        return None

    AuditLog.append = store_nothing  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        AuditLog.append = original  # type: ignore[method-assign]


async def _run(args: argparse.Namespace) -> None:
    backend = "postgresql" if args.database_url else "sqlite"
    async with serving(sandbox_app("demo"), free_port()) as sandbox_url:
        account_id = await _first_account(sandbox_url)
        async with _baseline(sandbox_url) as baseline_url, _plain_client(baseline_url) as baseline:
            b = _caller(baseline, account_id, "bare server")
            for mode in args.mode:
                with tempfile.TemporaryDirectory(prefix="persona-mcp-bench-") as tmp:
                    server_a = _floor if mode == "floor" else functools.partial(_persona, mode=mode)
                    async with server_a(sandbox_url, Path(tmp), database_url=args.database_url) as persona:
                        a = _caller(persona, account_id, "floor" if mode == "floor" else "persona-mcp")
                        with _appends_skipped(mode):
                            a_times, b_times = await _interleaved(a, b, args.warmup, args.calls)
                            _report(mode, backend, Figures.of(a_times), Figures.of(b_times))
                            if args.phases and mode != "floor":
                                await _phases(a, b, args.phases)
                            if args.profile and mode != "floor":
                                await _profile(a, args.profile, args.top)


def _pg_schema_url(base: str) -> tuple[str, Callable[[], None]]:
    """A fresh schema on `base` and the URL selecting it; the returned callable drops it."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin_url = base.replace("postgresql://", "postgresql+psycopg://", 1)

    def execute(statement: str) -> None:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(statement))
        finally:
            admin.dispose()

    execute(f'CREATE SCHEMA "{schema}"')
    return f"{base}?options=-csearch_path%3D{schema}", lambda: execute(f'DROP SCHEMA "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=500, help="measured calls per server (default 500)")
    parser.add_argument(
        "--warmup", type=int, default=50, help="unmeasured calls per server first (default 50)"
    )
    parser.add_argument("--mode", choices=MODES, nargs="+", default=list(MODES), help="see the modes above")
    parser.add_argument(
        "--database-url", help="run persona-mcp on PostgreSQL, e.g. postgresql://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="then profile N persona-mcp calls"
    )
    parser.add_argument("--phases", type=int, default=0, metavar="N", help="then time persona-mcp's steps")
    parser.add_argument("--top", type=int, default=30, help="rows of the profile to print")
    args = parser.parse_args()
    configure_logging("WARNING")
    drop: Callable[[], None] | None = None
    if args.database_url:
        args.database_url, drop = _pg_schema_url(args.database_url)
    print(f"get_account, {args.calls} calls per server after {args.warmup} warm-up calls, interleaved A,B")
    try:
        anyio.run(_run, args)
    finally:
        if drop is not None:
            drop()


if __name__ == "__main__":
    main()
