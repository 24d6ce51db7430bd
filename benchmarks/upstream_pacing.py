"""Upstream pacing under a burst: 64 agents through the whole server against a sandbox limited to 120/min.

    .venv/bin/python benchmarks/upstream_pacing.py [--limit 120] [--callers 64] [--window-seconds 60]
        [--duration 120] [--retry-budget 60] [--database-url postgresql://postgres@127.0.0.1:5432/test]

The case of issue 11: every agent calls `list_accounts` as fast as it is answered, for `--duration`
seconds, through the real server (grant, audit, credential lookup, Persona client and its rate gate) in
one process, against the sandbox over ASGI with its rate limit on (`--rate-limit 120`: a fixed window of
`--limit` requests that opens with the first request). An agent refused with "wait N s" waits N s, as an
agent should. When the burst ends (agents still waiting are stopped), a single agent calls every 5 s
until one call succeeds. Prints:

- successful calls per minute during the burst (the limit is the ceiling),
- the upstream 429s (answers the sandbox refused),
- the longest wait hint any refusal gave an agent (it must not exceed the window),
- the time from the end of the burst to the single agent's first success.

`--retry-budget` is the server's `retry_budget_seconds` (default 60, as shipped): how long one call may
wait for the window inside the server before it is refused with a hint. A shorter window
(`--window-seconds`) gives a quick run with the same shape.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx2
from mcp import Client
from sqlalchemy import create_engine, text
from starlette.applications import Starlette

from persona_mcp.logs import configure_logging
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.server.app import PersonaMcp, open_server
from persona_mcp.server.callers import StaticTokenCallers
from persona_mcp.testing import issue_grant, sandbox_app, sandbox_settings

_HINT = re.compile(r"wait ([0-9.]+(?:e[+-]?[0-9]+)?) s")
_SINGLE_AGENT_PERIOD_S = 5.0


@dataclass
class Upstream:
    """What the sandbox answered, by status."""

    statuses: list[int] = field(default_factory=list)


class CountingTransport(httpx2.AsyncBaseTransport):
    def __init__(self, sandbox: Starlette, upstream: Upstream) -> None:
        self._inner = SandboxTransport(sandbox)
        self._upstream = upstream

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        self._upstream.statuses.append(response.status_code)
        return response


@dataclass
class Burst:
    successes: int = 0
    refusals: int = 0
    other_errors: int = 0
    hints: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Figures:
    calls_per_minute: float
    successes: int
    refusals: int
    other_errors: int
    upstream_429: int
    upstream_requests: int
    longest_hint_s: float
    median_call_s: float
    first_success_after_s: float | None
    single_agent_attempts: int


def _hint(message: str) -> float | None:
    found = _HINT.search(message)
    return float(found.group(1)) if found else None


async def _call(client: Client) -> tuple[bool, float | None, str]:
    result = await client.call_tool("list_accounts", {"page_size": 1})
    if not result.is_error:
        return True, None, ""
    message = result.content[0].text if result.content else ""  # type: ignore[union-attr]
    return False, _hint(message), message


async def _agent(client: Client, burst: Burst, stop_at: float) -> None:
    while anyio.current_time() < stop_at:
        started = anyio.current_time()
        ok, hint, _ = await _call(client)
        burst.latencies.append(anyio.current_time() - started)
        if ok:
            burst.successes += 1
            continue
        if hint is None:
            burst.other_errors += 1
            await anyio.sleep(1.0)
            continue
        burst.refusals += 1
        burst.hints.append(hint)
        await anyio.sleep(min(hint, max(stop_at - anyio.current_time(), 0.0)))


async def _single_agent(client: Client, give_up_after: float) -> tuple[float | None, int, list[float]]:
    """Seconds until one call succeeds, calling every 5 s as in the issue; None if none within the limit."""
    started = anyio.current_time()
    attempts = 0
    hints: list[float] = []
    while anyio.current_time() - started < give_up_after:
        attempts += 1
        ok, hint, message = await _call(client)
        if ok:
            return anyio.current_time() - started, attempts, hints
        if hint is None:
            raise RuntimeError(f"the single agent's call failed: {message}")
        hints.append(hint)
        await anyio.sleep(_SINGLE_AGENT_PERIOD_S)
    return None, attempts, hints


@asynccontextmanager
async def _server(
    data_dir: Path, sandbox: Starlette, upstream: Upstream, retry_budget: float, database_url: str | None
) -> AsyncIterator[PersonaMcp]:
    settings = sandbox_settings(data_dir, database_url=database_url, retry_budget_seconds=retry_budget)
    async with open_server(
        settings, transport="memory", persona_transport=CountingTransport(sandbox, upstream)
    ) as app:
        assert isinstance(app.caller_source, StaticTokenCallers)
        app.caller_source.token = await issue_grant(app, ["accounts:read"])
        yield app


async def measure(
    *,
    limit: int,
    callers: int,
    window_seconds: float,
    duration: float,
    retry_budget: float,
    database_url: str | None,
) -> Figures:
    sandbox = sandbox_app()
    faults = sandbox.state.sandbox.faults
    faults.rate_limit_per_minute, faults.rate_limit_window_seconds = limit, window_seconds
    upstream = Upstream()
    burst = Burst()
    with tempfile.TemporaryDirectory() as tmp:
        async with _server(Path(tmp), sandbox, upstream, retry_budget, database_url) as app:
            clients = [Client(app.server) for _ in range(callers)]
            async with _all_entered(clients):
                started = anyio.current_time()
                stop_at = started + duration
                async with anyio.create_task_group() as group:
                    for client in clients:
                        group.start_soon(_agent, client, burst, stop_at)
                    await anyio.sleep_until(stop_at)
                    group.cancel_scope.cancel()  # the load stops; calls still waiting are abandoned
                elapsed = anyio.current_time() - started
                after, attempts, single_hints = await _single_agent(clients[0], 3 * window_seconds)
    return Figures(
        calls_per_minute=burst.successes / elapsed * 60.0,
        successes=burst.successes,
        refusals=burst.refusals,
        other_errors=burst.other_errors,
        upstream_429=upstream.statuses.count(429),
        upstream_requests=len(upstream.statuses),
        longest_hint_s=max([*burst.hints, *single_hints], default=0.0),
        median_call_s=statistics.median(burst.latencies) if burst.latencies else 0.0,
        first_success_after_s=after,
        single_agent_attempts=attempts,
    )


@asynccontextmanager
async def _all_entered(clients: list[Client]) -> AsyncIterator[None]:
    async with AsyncExitStack() as stack:
        for client in clients:
            await stack.enter_async_context(client)
        yield


@contextmanager
def _postgres_schema(url: str) -> Iterator[str]:
    """A fresh schema on the given server for this run, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        sep = "&" if "?" in url else "?"
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _report(figures: Figures, args: argparse.Namespace) -> None:
    window = args.window_seconds
    print(
        f"upstream pacing: sandbox limit {args.limit} per {window:g} s window, {args.callers} callers, "
        f"{args.duration:g} s burst, retry budget {args.retry_budget:g} s, "
        f"store={'postgresql' if args.database_url else 'sqlite'}"
    )
    per_window = figures.calls_per_minute * window / 60.0
    print(
        f"successful calls per minute   {figures.calls_per_minute:.1f}  "
        f"({per_window:.1f} per window; {figures.successes} calls, ceiling {args.limit} per window)"
    )
    print(
        f"upstream 429s                 {figures.upstream_429}  "
        f"(of {figures.upstream_requests} upstream requests)"
    )
    print(
        f"longest wait hint             {figures.longest_hint_s:.1f} s  (window {window:g} s; "
        f"{figures.refusals} refusals with a hint, {figures.other_errors} other errors)"
    )
    after = figures.first_success_after_s
    print(
        f"first success after the burst {f'{after:.1f} s' if after is not None else 'none'}  "
        f"({figures.single_agent_attempts} call(s) by the single agent, one every 5 s, "
        f"for at most {3 * window:g} s)"
    )
    print(f"median agent call             {figures.median_call_s:.2f} s (waits inside the server included)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=120, help="sandbox requests per window (default 120)")
    parser.add_argument("--callers", type=int, default=64, help="concurrent agents (default 64)")
    parser.add_argument("--window-seconds", type=float, default=60.0, help="sandbox window (default 60)")
    parser.add_argument("--duration", type=float, default=120.0, help="burst length in seconds (default 120)")
    parser.add_argument("--retry-budget", type=float, default=60.0, help="server retry budget (default 60)")
    parser.add_argument("--database-url", default=None, help="PostgreSQL server (a fresh schema is used)")
    args = parser.parse_args()
    configure_logging("WARNING")
    wall = time.perf_counter()

    async def run(database_url: str | None) -> Figures:
        return await measure(
            limit=args.limit,
            callers=args.callers,
            window_seconds=args.window_seconds,
            duration=args.duration,
            retry_budget=args.retry_budget,
            database_url=database_url,
        )

    if args.database_url:
        with _postgres_schema(args.database_url) as url:
            figures = anyio.run(run, url)
    else:
        figures = anyio.run(run, None)
    _report(figures, args)
    print(f"(run took {time.perf_counter() - wall:.0f} s)")


if __name__ == "__main__":
    main()
