"""persona-mcp against its direct peer, `timhwang21/persona-api-mcp` (Node), both over stdio.

    .venv/bin/python benchmarks/peer.py [--peer-src PATH] [--calls 400] [--runs 3] [--in-flight 1 8]
        [--also-src DIR]

The peer is built from its pinned commit (`PEER_COMMIT`): from `--peer-src` (a clone or bare git
directory holding that commit; `PERSONA_MCP_PEER_SRC` works too) or else from GitHub through npm
(`npm pack github:timhwang21/persona-api-mcp#<commit>`). Its dependencies come from its own
package-lock.json (`npm ci`), its OpenAPI input is the Persona document the project pins
(`src/persona_mcp/contract/openapi/`), and it is compiled with its own `tsc`. One change is made to its
source, printed when it is built: it sends `Key-Inflection: snake_case`, which is not one of the values
Persona documents (kebab, snake, camel) and which the sandbox refuses, so it is changed to `snake`. If
the peer cannot be fetched or built (no network, no Node), the script says why and prints
`main ratio: skipped (...)` on its last line.

Both servers are spawned by the SDK's stdio client in this process, against one sandbox (seed "demo")
in its own process: the peer with the sandbox key in `PERSONA_API_KEY`, persona-mcp as `persona-mcp
serve` with a grant token (`accounts:write`) on a migrated data directory, audit on (SQLite, every record
fsynced). The account read is `get_account` for persona-mcp and a `resources/read` of
`persona://accounts/<id>` for the peer (it serves reads as resources); create-account is `create_account`
and `account_create` with a fresh reference id. For each run, operation and number of requests in flight
(one session per server, N requests outstanding on it), the servers take turns (order rotating by run).
A third server takes its turn too, to tell the Python SDK's own cost from persona-mcp's: a bare low-level
SDK server (this script with `--bare-server`) on the same stdio wire as persona-mcp, with the two tools
doing one sandbox request each and returning Persona's JSON (no grant, no audit, no validation). The peer
runs with 8 requests in flight on one Node thread, persona-mcp and the bare server on one Python thread;
the client and the sandbox share the machine's cores with all three.
A fourth server is that bare server keeping the audit's durability promises at their least
(`_bare_server.durable_log`): one small row committed to an SQLite file (WAL, `synchronous=FULL`, as
the store) before a create's POST and after every answer, on the event loop. Its latency over the bare
server's is what the promises cost any server on this disk; persona-mcp's over it is what persona-mcp
adds to them (issue 18's latency targets are against the bare server).
With `--also-src DIR`, a fifth server takes its turn: `persona-mcp serve` importing DIR's `persona_mcp`
(the code before a change), on a data directory of its own.
Printed: calls/s, p50 and p95 per server, the CPU a call of the server's process (every thread), of the
clients (this process) and of the sandbox, ratios persona-mcp/peer and persona-mcp/bare, the durable
floor's p50 latency and calls/s against the bare server and persona-mcp's against the floor, the CPU a call
one thread has at the peer's calls/s (a stdio session is served on one event-loop thread, so a server
spending more cannot reach them), cold start (spawn to `initialize` answered) and RSS after 1,000
calls; the last line is the main ratio: the lower of
persona-mcp's calls/s over the peer's for the read and for create-account at the highest in-flight count
(target >= 1.0).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
from _bare_server import PERSONA_HEADERS
from _installed import BENCHMARKS, compile_like_an_install, other_source, persona_mcp_package
from _proc import rss_mib, threads_cpu_s

PEER_REPO = "timhwang21/persona-api-mcp"
PEER_COMMIT = "467d581428fc4148d54e69aab697df54e8470b05"
ROOT = Path(__file__).resolve().parents[1]
OPENAPI = ROOT / "src" / "persona_mcp" / "contract" / "openapi" / "persona-openapi-2025-12-08.yaml"
PERSONA_MCP = str(Path(sys.executable).with_name("persona-mcp"))
_TIMEOUT_S = 60.0
_RSS_AFTER_CALLS = 1000  # default of --rss-after
BEFORE = "before: persona-mcp"
FLOOR = "bare + durable commits"
_KEY_INFLECTION_FIX = ("'Key-Inflection': 'snake_case'", "'Key-Inflection': 'snake'")


class Skip(Exception):
    """The peer cannot be built here; the message says why."""


# -- building the peer ------------------------------------------------------------------------------------


def _run(command: list[str], cwd: Path, what: str) -> None:
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Skip(f"{what} failed: {exc}") from None
    if done.returncode != 0:
        raise Skip(f"{what} failed: {(done.stderr or done.stdout).strip()[-600:]}")


def _unpack_source(peer_src: Path | None, into: Path) -> str:
    """Put the pinned commit's files in `into`; returns where they came from."""
    if peer_src is not None:
        git_dir = peer_src / ".git" if (peer_src / ".git").exists() else peer_src
        archive = subprocess.run(
            ["git", f"--git-dir={git_dir}", "archive", PEER_COMMIT],
            capture_output=True,
            timeout=120,
            check=False,
        )
        if archive.returncode != 0:
            raise Skip(
                f"{peer_src} does not hold commit {PEER_COMMIT}: {archive.stderr.decode().strip()[-300:]}"
            )
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
        return f"{peer_src} at {PEER_COMMIT[:7]}"
    if shutil.which("npm") is None:
        raise Skip("npm is not installed (the peer is a Node server)")
    with tempfile.TemporaryDirectory() as packed:
        _run(
            ["npm", "pack", f"github:{PEER_REPO}#{PEER_COMMIT}", "--pack-destination", packed],
            into,
            "npm pack",
        )
        tarballs = list(Path(packed).glob("*.tgz"))
        if not tarballs:
            raise Skip("npm pack produced no tarball")
        subprocess.run(
            ["tar", "-x", "-z", "--strip-components=1", "-C", str(into), "-f", str(tarballs[0])], check=True
        )
    return f"github:{PEER_REPO}#{PEER_COMMIT[:7]} (npm pack)"


def build_peer(peer_src: Path | None, build_root: Path) -> Path:
    """The peer's entry point (`dist/server/index.js`), built once per commit under `build_root`."""
    if shutil.which("node") is None:
        raise Skip("node is not installed (the peer is a Node server)")
    home = build_root / f"persona-api-mcp-{PEER_COMMIT[:12]}"
    entry = home / "dist" / "server" / "index.js"
    if entry.exists():
        return entry
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    try:
        origin = _unpack_source(peer_src, home)
        print(f"building the peer from {origin} in {home}")
        # Its `openapi` is a symlink into a private sibling checkout; it gets the project's pinned document.
        openapi = home / "openapi"
        if openapi.is_symlink() or openapi.is_file():
            openapi.unlink()
        openapi.mkdir(exist_ok=True)
        shutil.copyfile(OPENAPI, openapi / "openapi.yaml")
        client = home / "src" / "api" / "client.ts"
        source = client.read_text()
        if _KEY_INFLECTION_FIX[0] in source:
            client.write_text(source.replace(*_KEY_INFLECTION_FIX))
            print(f"  changed in src/api/client.ts: {_KEY_INFLECTION_FIX[0]} -> {_KEY_INFLECTION_FIX[1]}")
        _run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], home, "npm ci")
        _run(["node", "scripts/extract-tags.js"], home, "extracting the OpenAPI tags")
        _run(["npx", "--no-install", "tsc"], home, "tsc")
    except BaseException:
        shutil.rmtree(home, ignore_errors=True)
        raise
    if not entry.exists():
        raise Skip(f"the build produced no {entry.relative_to(home)}")
    return entry


# -- the bare server (a child process of this script) -------------------------------------------------------


def serve_bare(sandbox_url: str, commit_to: str | None) -> None:
    """The Python floor (`_bare_server.py`) over stdio, on the same wire as persona-mcp; with `commit_to`
    (an SQLite file), it commits its records there (`durable_log`)."""
    from _bare_server import open_bare_server

    from persona_mcp.sandbox import DEFAULT_API_KEY
    from persona_mcp.server.event_loop import loop_options
    from persona_mcp.server.stdio_wire import stdio_wire

    async def serve() -> None:
        async with (
            open_bare_server(
                sandbox_url, DEFAULT_API_KEY, timeout_s=_TIMEOUT_S, commit_to=commit_to
            ) as server,
            stdio_wire() as (read_stream, write_stream),
        ):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    anyio.run(serve, backend_options=loop_options())


# -- measuring ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Phase:
    calls_per_s: float
    p50_ms: float
    p95_ms: float
    #: CPU a call, ms: the server's process (every thread), this process (the clients), the sandbox.
    server_cpu_ms: float = math.nan
    client_cpu_ms: float = math.nan
    sandbox_cpu_ms: float = math.nan


@dataclass(slots=True)
class Server:
    name: str
    client: Any
    pid: int | None
    cold_start_s: float
    read: Callable[[], Awaitable[None]]
    create: Callable[[str], Awaitable[None]]
    rss_mib: float | None = None
    results: dict[tuple[str, int], list[Phase]] = field(default_factory=dict)


def _children() -> set[int]:
    me = str(os.getpid())
    found: set[int] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:
            found.add(int(stat.parent.name))
    return found


@asynccontextmanager
async def _stdio(
    command: str, args: list[str], env: dict[str, str]
) -> AsyncIterator[tuple[Any, int | None, float]]:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters, stdio_client

    before = _children()
    started = time.perf_counter()
    params = StdioServerParameters(command=command, args=args, env=env)
    with open(os.devnull, "w") as quiet:
        async with Client(stdio_client(params, errlog=quiet)) as client:
            cold = time.perf_counter() - started
            spawned = _children() - before
            yield client, (min(spawned) if spawned else None), cold


def _check(result: Any, what: str) -> None:
    if getattr(result, "is_error", False):
        raise RuntimeError(f"{what} failed: {str(result.content)[:500]}")


async def _phase(
    call: Callable[[int], Awaitable[None]],
    calls: int,
    in_flight: int,
    server_pid: int | None = None,
    sandbox_pid: int | None = None,
) -> Phase:
    """`calls` calls, `in_flight` at a time; the CPU each process spent on them comes with the figures."""
    latencies: list[float] = []
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < calls:
            index = next_index
            next_index += 1
            began = time.perf_counter()
            with anyio.fail_after(_TIMEOUT_S):
                await call(index)
            latencies.append(time.perf_counter() - began)

    server_before, sandbox_before = threads_cpu_s(server_pid), threads_cpu_s(sandbox_pid)
    started, client_before = time.perf_counter(), time.process_time()
    async with anyio.create_task_group() as tg:
        for _ in range(in_flight):
            tg.start_soon(worker)
    elapsed = time.perf_counter() - started
    per_call = 1000 / len(latencies)
    p95 = statistics.quantiles(latencies, n=100)[94] if len(latencies) >= 2 else latencies[0]
    return Phase(
        len(latencies) / elapsed,
        statistics.median(latencies) * 1000,
        p95 * 1000,
        (threads_cpu_s(server_pid) - server_before) * per_call,
        (time.process_time() - client_before) * per_call,
        (threads_cpu_s(sandbox_pid) - sandbox_before) * per_call,
    )


def _operation(server: Server, op: str, tag: str) -> Callable[[int], Awaitable[None]]:
    if op == "read":
        return lambda _i: server.read()
    return lambda i: server.create(f"peer-bench-{tag}-{i}-{uuid.uuid4().hex[:8]}")


async def _first_account(sandbox_url: str, key: str) -> str:
    async with httpx2.AsyncClient(timeout=_TIMEOUT_S) as http:
        response = await http.get(
            f"{sandbox_url}/api/v1/accounts", headers={"Authorization": f"Bearer {key}", **PERSONA_HEADERS}
        )
        response.raise_for_status()
        account_id: str = response.json()["data"][0]["id"]
        return account_id


def _persona_env(data_dir: Path, sandbox_url: str) -> dict[str, str]:
    from persona_mcp.sandbox import DEFAULT_API_KEY
    from persona_mcp.server.app import open_server
    from persona_mcp.testing import issue_grant, sandbox_settings

    base = f"{sandbox_url}/api/v1"

    async def grant() -> str:
        settings = sandbox_settings(data_dir, base_url=base)
        async with open_server(settings, instance_id="peer-bench-setup") as app:
            return await issue_grant(app, ["accounts:write"], principal="peer-bench")

    token = anyio.run(grant)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PERSONA_MCP_", "PERSONA_API_"))}
    env.update(
        {
            "PERSONA_MCP_DATA_DIR": str(data_dir),
            "PERSONA_MCP_TOKEN": token,
            "PERSONA_MCP_ENVIRONMENT": "sandbox",
            "PERSONA_API_KEY": DEFAULT_API_KEY,
            "PERSONA_API_BASE_URL": base,
        }
    )
    return env


async def _wait_up(url: str, process: subprocess.Popen[bytes]) -> None:
    with anyio.fail_after(_TIMEOUT_S):
        async with httpx2.AsyncClient(timeout=2.0) as http:
            while True:
                if process.poll() is not None:
                    raise RuntimeError("the sandbox exited")
                try:
                    await http.get(url)
                    return
                except httpx2.TransportError:
                    await anyio.sleep(0.02)


def _tool_server(name: str, client: Any, pid: int | None, cold_start_s: float, account_id: str) -> Server:
    """persona-mcp or the bare server: both read with `get_account` and create with `create_account`."""

    async def read() -> None:
        _check(await client.call_tool("get_account", {"account_id": account_id}), "get_account")

    async def create(reference: str) -> None:
        _check(await client.call_tool("create_account", {"reference_id": reference}), "create_account")

    return Server(name, client, pid, cold_start_s, read, create)


async def _measure(
    entry: Path,
    args: argparse.Namespace,
    sandbox_url: str,
    sandbox_pid: int,
    persona_env: dict[str, str],
    before_env: dict[str, str] | None,
    floor_log: Path,
) -> list[Server]:
    from persona_mcp.sandbox import DEFAULT_API_KEY

    account_id = await _first_account(sandbox_url, DEFAULT_API_KEY)
    peer_env = dict(os.environ)
    peer_env.update(
        {
            "PERSONA_API_KEY": DEFAULT_API_KEY,
            "PERSONA_API_URL": f"{sandbox_url}/api/v1",
            "LOG_LEVEL": "error",
            "ENABLE_REQUEST_LOGGING": "false",
            "DOTENV_CONFIG_QUIET": "true",
            "NODE_ENV": "production",
        }
    )
    serve = ["serve", "--log-level", "WARNING"]
    bare_args = [str(Path(__file__).resolve()), "--bare-server", sandbox_url]
    async with (
        _stdio("node", [str(entry)], peer_env) as (peer_client, peer_pid, peer_cold),
        _stdio(PERSONA_MCP, serve, persona_env) as (ours, our_pid, our_cold),
        _stdio(sys.executable, bare_args, dict(os.environ)) as (bare, bare_pid, bare_cold),
        _stdio(sys.executable, [*bare_args, "--commit-to", str(floor_log)], dict(os.environ)) as (
            floor,
            floor_pid,
            floor_cold,
        ),
        contextlib.AsyncExitStack() as others,
    ):

        async def peer_read() -> None:
            await peer_client.read_resource(f"persona://accounts/{account_id}")

        async def peer_create(reference: str) -> None:
            _check(
                await peer_client.call_tool("account_create", {"referenceId": reference}), "account_create"
            )

        servers = [
            Server("peer (persona-api-mcp)", peer_client, peer_pid, peer_cold, peer_read, peer_create),
            _tool_server("persona-mcp (audit on)", ours, our_pid, our_cold, account_id),
            _tool_server("bare SDK server", bare, bare_pid, bare_cold, account_id),
            _tool_server(FLOOR, floor, floor_pid, floor_cold, account_id),
        ]
        if before_env is not None:  # the same `persona-mcp serve`, importing another checkout's src/
            client, pid, cold = await others.enter_async_context(_stdio(PERSONA_MCP, serve, before_env))
            servers.append(_tool_server(BEFORE, client, pid, cold, account_id))
        warm_flight = max(args.in_flight)
        for server in servers:
            reads, creates = args.rss_after * 4 // 5, max(1, args.rss_after // 5)
            await _phase(_operation(server, "read", "warm"), reads, warm_flight)
            await _phase(_operation(server, "create", "warm"), creates, warm_flight)
            server.rss_mib = rss_mib(server.pid)
        for run in range(args.runs):
            for in_flight in args.in_flight:
                for op in ("read", "create"):
                    order = servers[run % len(servers) :] + servers[: run % len(servers)]
                    for server in order:
                        phase = await _phase(
                            _operation(server, op, f"r{run}"), args.calls, in_flight, server.pid, sandbox_pid
                        )
                        server.results.setdefault((op, in_flight), []).append(phase)
        return servers


def _report(servers: list[Server], args: argparse.Namespace) -> None:
    peer, ours, bare, floor, *before = servers
    print(f"\n{args.calls} calls per phase, {args.runs} runs, servers alternated; medians over runs")
    print(
        f"{'operation':<10} {'in flight':>9}  {'server':<24} {'calls/s':>9} {'p50 ms':>8} {'p95 ms':>8}"
        "   CPU ms a call: server clients sandbox"
    )
    ratios: dict[tuple[str, int], float] = {}
    for in_flight in args.in_flight:
        for op in ("read", "create"):
            figures = {}
            for server in servers:
                phases = server.results[(op, in_flight)]
                rate = statistics.median(p.calls_per_s for p in phases)
                p50 = statistics.median(p.p50_ms for p in phases)
                p95 = statistics.median(p.p95_ms for p in phases)
                cpu = [
                    statistics.median(getattr(p, figure) for p in phases)
                    for figure in ("server_cpu_ms", "client_cpu_ms", "sandbox_cpu_ms")
                ]
                figures[server.name] = (rate, p50, p95, cpu[0])
                runs = ", ".join(f"{p.calls_per_s:.0f}" for p in phases)
                row = f"{op:<10} {in_flight:>9}  {server.name:<24} {rate:>9.1f} {p50:>8.2f} {p95:>8.2f}"
                spent = f"{cpu[0]:>21.3f} {cpu[1]:>7.3f} {cpu[2]:>7.3f}"
                print(f"{row}{spent}   (runs: {runs})")
            (pr, p50p, _, _), (orate, p50o, _, ocpu) = figures[peer.name], figures[ours.name]
            (brate, p50b, _, bcpu) = figures[bare.name]
            ratios[(op, in_flight)] = orate / pr
            print(
                f"{'':<21}persona-mcp/peer: calls/s {orate / pr:.2f}, p50 latency {p50o / p50p:.2f};"
                f" persona-mcp/bare: calls/s {orate / brate:.2f}, p50 latency {p50o / p50b:.2f};"
                f" bare/peer calls/s {brate / pr:.2f}"
            )
            (frate, p50f, _, fcpu) = figures[floor.name]
            # What the durability promises cost any server here, and what persona-mcp adds to them.
            print(
                f"{'':<21}{FLOOR}/bare: p50 latency {p50f / p50b:.2f}, calls/s {frate / brate:.2f};"
                f" persona-mcp/({FLOOR}): p50 latency {p50o / p50f:.2f}, calls/s {orate / frate:.2f}"
            )
            for other in before:
                other_rate = figures[other.name][0]
                print(
                    f"{'':<21}{other.name}: calls/s against the peer {other_rate / pr:.2f};"
                    f" persona-mcp/{other.name} calls/s {orate / other_rate:.2f}"
                )
            # One event-loop thread serves a stdio session: the peer's calls/s bounds its CPU a call.
            print(
                f"{'':<21}at the peer's calls/s one thread has {1000 / pr:.3f} ms of CPU a call;"
                f" persona-mcp spends {ocpu:.3f}, the bare SDK server {bcpu:.3f}, with durable commits"
                f" {fcpu:.3f}"
            )
    print()
    for server in servers:
        rss = f"{server.rss_mib:.1f} MiB" if server.rss_mib is not None else "n/a"
        cold = f"cold start (spawn -> initialize) {server.cold_start_s:.3f} s"
        print(f"{server.name:<24} {cold}; RSS after {args.rss_after} calls {rss}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    top = max(args.in_flight)
    read, create = ratios[("read", top)], ratios[("create", top)]
    where = f"persona-mcp/peer calls/s at {top} in flight, lower of read {read:.2f} and create {create:.2f}"
    print(f"main ratio ({where}; target >= 1.0): {min(read, create):.2f}")


async def _main(args: argparse.Namespace, entry: Path) -> None:
    from persona_mcp.server.serving import free_port

    port = free_port()
    sandbox_url = f"http://127.0.0.1:{port}"
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "persona_mcp.cli", "sandbox", "--seed", "demo", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await _wait_up(f"{sandbox_url}/api/v1/accounts", sandbox)
        with tempfile.TemporaryDirectory(prefix="persona-mcp-peer-") as tmp:
            data_dir = Path(tmp) / "data"
            persona_env = await anyio.to_thread.run_sync(_persona_env, data_dir, sandbox_url)
            before_env = None
            if args.also_src is not None:
                before_dir = Path(tmp) / "before-data"
                before_env = await anyio.to_thread.run_sync(_persona_env, before_dir, sandbox_url)
                before_env["PYTHONPATH"] = str(args.also_src)
            floor_log = Path(tmp) / "bare-durable.sqlite3"
            servers = await _measure(
                entry, args, sandbox_url, sandbox.pid, persona_env, before_env, floor_log
            )
        _report(servers, args)
    finally:
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--peer-src",
        type=Path,
        default=os.environ.get("PERSONA_MCP_PEER_SRC") or None,
        help="a clone (or bare git directory) of the peer holding PEER_COMMIT",
    )
    parser.add_argument(
        "--build-dir",
        type=Path,
        default=Path.home() / ".cache" / "persona-mcp-bench",
        help="where the peer is built (reused across runs)",
    )
    parser.add_argument("--calls", type=int, default=400, help="calls per phase (default 400)")
    parser.add_argument(
        "--rss-after",
        type=int,
        default=_RSS_AFTER_CALLS,
        help=f"warm-up calls per server, after which RSS is read (default {_RSS_AFTER_CALLS})",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs (default 3)")
    parser.add_argument(
        "--in-flight", type=int, nargs="+", default=[1, 8], help="requests in flight (default 1 8)"
    )
    parser.add_argument(
        "--also-src",
        type=other_source,
        help="also run persona-mcp from another checkout: its src/ directory or its root (say, a worktree "
        "of the code before a change)",
    )
    parser.add_argument("--bare-server", metavar="SANDBOX_URL", help=argparse.SUPPRESS)
    parser.add_argument("--commit-to", metavar="SQLITE_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        serve_bare(args.bare_server, args.commit_to)
        return
    from persona_mcp.logs import configure_logging

    configure_logging("WARNING")
    try:
        entry = build_peer(args.peer_src, args.build_dir)
    except Skip as skipped:
        print(f"the peer was not built: {skipped}")
        print(f"main ratio: skipped ({skipped})")
        return
    # Started as installed: see _installed.py.
    before = [persona_mcp_package(args.also_src)] if args.also_src else []
    compile_like_an_install(persona_mcp_package(), BENCHMARKS, *before)
    anyio.run(_main, args, entry)


if __name__ == "__main__":
    main()
