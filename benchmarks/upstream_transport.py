"""CPU per request to Persona: persona-mcp's connection pool against httpx2's client and transport.

    .venv/bin/python benchmarks/upstream_transport.py [--requests 3000] [--runs 3] [--concurrency 1 8]

The sandbox (seed "demo") runs in its own process; this process sends `get_account`'s request (one GET
of an account, Persona's headers, a bearer key) through each way in turn, and measures this thread's CPU
time per request (`time.thread_time`, so the sandbox's work is not counted) and the wall time:

- `httpx2.AsyncClient`: what the bare server in `throughput.py` uses, and persona-mcp before it had a
  transport of its own;
- `httpx2.AsyncHTTPTransport`: httpcore2's pool behind httpx2's transport interface, without the client's
  layers (what persona-mcp's `PersonaTransport` was built on until 2026-12-06);
- `PersonaTransport`: persona-mcp's default transport (`persona.http1`'s pool, httptools' parser), with
  httpx2's `Request` and `Response` around it as `PersonaClient` uses them;
- `ConnectionPool`: that pool alone.

`--concurrency` runs each way with that many requests in flight (as the server has with that many
sessions). Ways and runs are interleaved, so each sees the same machine; it prints the median of runs and
each way's ratio to `httpx2.AsyncClient`, and on the last line `PersonaTransport`'s CPU per request over
`httpx2.AsyncHTTPTransport`'s at the highest concurrency.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable

import anyio
import httpx2
from _bare_server import PERSONA_HEADERS
from throughput import _processes, _sandbox_key, _start_sandbox

from persona_mcp.persona.http1 import ConnectionPool, Timeouts
from persona_mcp.persona.transport import PersonaTransport

Send = Callable[[], Awaitable[None]]


async def _timed(send: Send, requests: int, concurrency: int) -> tuple[float, float]:
    """CPU us and wall us per request, `requests` sent by `concurrency` workers."""
    share = requests // concurrency

    async def worker() -> None:
        for _ in range(share):
            await send()

    cpu, wall = time.thread_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    done = share * concurrency
    return (time.thread_time() - cpu) / done * 1e6, (time.perf_counter() - wall) / done * 1e6


async def _run(args: argparse.Namespace) -> None:
    with _processes() as procs:
        _, sandbox_url, account = await _start_sandbox(procs)
        url = f"{sandbox_url}/api/v1/accounts/{account}"
        headers = {**PERSONA_HEADERS, "Authorization": f"Bearer {_sandbox_key()}"}
        timeout = httpx2.Timeout(30.0)
        client = httpx2.AsyncClient(headers=headers, timeout=timeout)
        httpcore_transport = httpx2.AsyncHTTPTransport()
        persona_transport = PersonaTransport()
        pool = ConnectionPool()
        prepared = httpx2.Request("GET", url, headers=headers)
        timeouts = Timeouts.of({"timeout": timeout.as_dict()})

        async def through_client() -> None:
            (await client.get(url)).raise_for_status()

        async def through_httpcore() -> None:
            request = httpx2.Request("GET", url, headers=headers, extensions={"timeout": timeout.as_dict()})
            response = await httpcore_transport.handle_async_request(request)
            await response.aread()
            assert response.status_code == 200

        async def through_persona_transport() -> None:
            request = httpx2.Request("GET", url, headers=headers, extensions={"timeout": timeout.as_dict()})
            assert (await persona_transport.handle_async_request(request)).status_code == 200

        async def through_pool() -> None:
            answer = await pool.request(b"GET", prepared.url, prepared.headers.raw, b"", timeouts)
            assert answer.status == 200

        ways: dict[str, Send] = {
            "httpx2.AsyncClient": through_client,
            "httpx2.AsyncHTTPTransport": through_httpcore,
            "PersonaTransport": through_persona_transport,
            "ConnectionPool": through_pool,
        }
        figures: dict[tuple[int, str], list[tuple[float, float]]] = {}
        for concurrency in args.concurrency:
            for send in ways.values():  # warm each way's connections
                await _timed(send, 50 * concurrency, concurrency)
        for run in range(args.runs):
            for concurrency in args.concurrency:
                names = list(ways)
                names = names[run % len(names) :] + names[: run % len(names)]
                for name in names:
                    figures.setdefault((concurrency, name), []).append(
                        await _timed(ways[name], args.requests, concurrency)
                    )
        for closing in (
            client.aclose(),
            httpcore_transport.aclose(),
            persona_transport.aclose(),
            pool.aclose(),
        ):
            await closing
    _report(figures, args)


def _report(figures: dict[tuple[int, str], list[tuple[float, float]]], args: argparse.Namespace) -> None:
    print(f"{args.requests} GETs of one account per way and run, {args.runs} runs; medians (runs)")
    print(f"{'in flight':>9}  {'way':26} {'CPU us/request':>15} {'vs client':>9} {'wall us':>8}")
    for concurrency in args.concurrency:
        base = statistics.median(cpu for cpu, _ in figures[(concurrency, "httpx2.AsyncClient")])
        for (shown, name), runs in figures.items():
            if shown != concurrency:
                continue
            cpu = statistics.median(cpu for cpu, _ in runs)
            wall = statistics.median(wall for _, wall in runs)
            each = ", ".join(f"{c:.0f}" for c, _ in runs)
            print(
                f"{concurrency:>9}  {name:26} {cpu:>15.1f} {cpu / base:>8.2f}x {wall:>8.0f}   (runs: {each})"
            )
    print(f"load average: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    top = max(args.concurrency)
    ours = statistics.median(cpu for cpu, _ in figures[(top, "PersonaTransport")])
    httpcore = statistics.median(cpu for cpu, _ in figures[(top, "httpx2.AsyncHTTPTransport")])
    print(f"PersonaTransport's CPU per request over httpcore2's, {top} in flight: {ours / httpcore:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000, help="requests per way and run (default 3000)")
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs (default 3)")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[1, 8], help="requests in flight (default 1 8)"
    )
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:  # the server's fallback: asyncio's own loop
        anyio.run(_run, args)
    else:
        uvloop.run(_run(args))


if __name__ == "__main__":
    main()
