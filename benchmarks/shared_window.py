"""The rate gate on PostgreSQL's shared window: what a permit costs the event loop, taken ahead or not.

    .venv/bin/python benchmarks/shared_window.py [--postgres URL] [--callers 1 8 64] [--permits 1280]
        [--runs 2]

Replicas sharing PostgreSQL share Persona's window through one row (`server/upstream_windows.py`), and a
request waits for its permit. Each line is one phase: `--callers` concurrent callers on one gate over a
`SharedLedger`, each asking for a permit, holding it for 2 ms (the request), and settling it with a
typical answer (a window far from its end), until `--permits` permits have been given. Phases alternate
the gate as the server builds it (`TAKE_AHEAD` permits taken ahead) and one that takes none, `--runs`
times each. Printed: wall time per permit, the event loop's CPU per permit (`time.thread_time`: psycopg's
asynchronous round trips, the ledger's batching, the gate), and the transactions the ledger ran. The last
line is the ratio of the loop's CPU per permit, taken ahead against not, at one caller.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from upstream_pacing import _postgres_schema

from persona_mcp.persona.ratelimit import RateGate
from persona_mcp.persona.retry import RateLimitInfo
from persona_mcp.server.upstream_windows import TAKE_AHEAD, SharedLedger
from persona_mcp.store import create_store, upgrade

REQUEST_S = 0.002
ANSWER = RateLimitInfo(limit=300, remaining=300, reset=50)


async def _phase(url: str, take_ahead: int, callers: int, permits: int) -> tuple[float, float, int]:
    store = create_store(url)
    await upgrade(store)
    ledger = SharedLedger(store)
    gate = RateGate(ledger, take_ahead=take_ahead)
    first = (await gate.admit("sandbox")).permit  # Persona's first answer: the window's size is known
    assert first is not None
    first.answered(ANSWER)
    each = permits // callers

    async def caller() -> None:
        for _ in range(each):
            permit = (await gate.admit("sandbox")).permit
            assert permit is not None, "a window far from its end never makes a caller wait"
            await asyncio.sleep(REQUEST_S)
            permit.answered(ANSWER)

    transactions = ledger.transactions
    started, cpu = time.perf_counter(), time.thread_time()
    await asyncio.gather(*(caller() for _ in range(callers)))
    wall, cpu = time.perf_counter() - started, time.thread_time() - cpu
    transactions = ledger.transactions - transactions
    await gate.aclose()
    await store.close()
    given = each * callers
    return 1e6 * wall / given, 1e6 * cpu / given, transactions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--callers", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--permits", type=int, default=1280)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    cpu_at_one: dict[int, list[float]] = {TAKE_AHEAD: [], 0: []}
    for callers in args.callers:
        for _ in range(args.runs):
            for take_ahead in (TAKE_AHEAD, 0):
                with _postgres_schema(args.postgres) as url:
                    wall, cpu, transactions = asyncio.run(_phase(url, take_ahead, callers, args.permits))
                print(
                    f"callers={callers:>3} take_ahead={take_ahead}  wall {wall:8.1f} us/permit"
                    f"  loop CPU {cpu:6.1f} us/permit  transactions {transactions}"
                )
                if callers == 1:
                    cpu_at_one[take_ahead].append(cpu)
    if cpu_at_one[0]:
        ratio = statistics.median(cpu_at_one[TAKE_AHEAD]) / statistics.median(cpu_at_one[0])
        print(f"main ratio (loop CPU per permit at one caller, taken ahead / not): {ratio:.2f}")


if __name__ == "__main__":
    main()
