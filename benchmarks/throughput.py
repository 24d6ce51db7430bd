"""Throughput under concurrency: persona-mcp (SQLite, PostgreSQL) against a bare low-level SDK server.

    .venv/bin/python benchmarks/throughput.py [--sessions 1 8 64] [--calls 400] [--runs 3]
        [--database-url postgresql://postgres@127.0.0.1:5432/test | --no-postgres] [--profile DIR]
        [--also-src DIR] [--floor]

Every server runs in its own process, as it would in production: the Persona sandbox (seed "demo"),
persona-mcp over streamable HTTP on SQLite (WAL, synchronous=FULL: every record fsynced), persona-mcp on
PostgreSQL (a fresh schema, dropped afterwards), and a bare `mcp.server.lowlevel.Server` whose two tools
make the same sandbox calls (`get_account`: one GET; `create_account`: one POST with an Idempotency-Key)
and return Persona's JSON; then the same bare server declaring persona-mcp's output schemas for the two
tools (as its `tools/list` gives them) and answering structured content that matches them ("bare +
output schemas"). The SDK's `Client` compiles a validator for each output schema once per session and
checks each result against it: work done in the clients' process, on the cores the servers use, which
this floor's clients do too, so that persona-mcp's ratio to it leaves out what the schemas cost the
clients. persona-mcp runs as shipped (`serve --transport http`'s code path, a grant token with
`accounts:write`), with its per-grant session cap raised to fit the sessions.

The clients (the SDK's `Client` over `streamable_http_client`, one session each) run in this process.
Each phase opens N sessions and settles each one before the clock starts: one `get_account` and one
`create_account`, untimed, as a client that has been working for a while has done. A session's first call
of a tool is not a steady-state call: the SDK's `Client` lists the server's tools inside it and compiles
the tool's output-schema validator (~2.2 ms a tool on this machine, against ~0.03 ms to check a result),
and the server answers its first `tools/list`. At 64 sessions and 400 calls a phase a session makes about
6 calls, so those once-per-session costs would weigh on every call the phase timed (~0.7 ms of the
clients' CPU a call); they are reported on their own instead ("first calls in a new session", below). Then
the phase sends `--calls` calls from the N sessions at once, 80 % `get_account` and 20 % `create_account`
(each session's call k is a create when k % 5 == 4), timed from the first call to the last answer.
Phases are interleaved: for each run, each session count, each server in turn (the order rotates by run),
so all servers see the same machine. It prints, per session count and server, the median over runs of
calls/s, p50 and p95 latency, and the ratios to the bare server; the server process's CPU time per call
(all threads, from /proc: once one interpreter is the bottleneck, the figure behind calls/s, and steadier
between runs); its event-loop (main) thread's alone, and the share of the phase that thread was on a core
(calls/s are that share over that CPU per call, so the two say whether a server is short of CPU on its
loop or waiting with nothing to run); the clients', the sandbox's and PostgreSQL's processes', and the
share of the machine's cores busy (and stolen by the hypervisor): near 1, the machine itself is the
bottleneck; persona-mcp's calls/s against the bare server with its output schemas; persona-mcp's own means
over each phase, read from its Prometheus `/metrics` before and after the clock (a tool call as audited,
an upstream request, an audit record from submitted to durable: where a call's time goes inside the
server); the p50 of a session's first two calls (its settling calls, listing and validator included); then
each server's cold start (spawn to the first `initialize` answered, and to the first `tools/list` after
it: persona-mcp answers `initialize` over HTTP before its tool catalogue is open) and RSS after its first
1,000 calls; the load average; and, on the last line, the main ratio: the lowest persona-mcp/bare calls/s
ratio at 8 and 64 sessions (target >= 0.8).

`--floor` adds the bare server keeping the audit's durability promises at their least, once on SQLite
and once on PostgreSQL (`_bare_server.durable_log`: a row committed before a create's POST and after every
answer, one at a time), and prints each persona-mcp server's p50 by call against the floor on its
database, and each floor's against bare: what the promises cost any server here, and what persona-mcp
adds to them (issue 18's latency targets are against bare). The floors commit one record at a time with
no group commit: their calls/s at many sessions are no floor for persona-mcp's.

`--profile DIR` runs each persona-mcp server, as shipped, under cProfile and writes its profile to
DIR when the server stops (`python -m pstats DIR/<server>.prof`; the profiler's own cost lowers that
server's figures: profile separately).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
from _bare_server import PERSONA_HEADERS
from _installed import BENCHMARKS, compile_like_an_install, other_source, persona_mcp_package
from _proc import rss_mib, scheduled_ns

_CALL_TIMEOUT_S = 60.0
_TOOL_NAMES = ("get_account", "create_account")
_SCHEMA_FLOOR = "bare + output schemas"
_RSS_AFTER_CALLS = 1000  # default of --rss-after
_READY_TIMEOUT_S = 60.0
_KEY_ENV = "THROUGHPUT_SANDBOX_KEY"
#: persona-mcp serves its Prometheus `/metrics` on the MCP port with this token: `_phase` reads, before
#: and after the clock, how long its calls, its upstream requests and its audit records took inside it.
_METRICS_TOKEN = "throughput-metrics-" + uuid.uuid4().hex
#: Histograms read from `/metrics` (summed over their labels): the means in `Phase.inside_ms`.
_INSIDE_HISTOGRAMS = {
    "call": "persona_mcp_tool_call_duration_seconds",
    "upstream": "persona_mcp_upstream_request_duration_seconds",
    "durable": "persona_mcp_audit_append_duration_seconds",
}
PERSONA_MCP = str(Path(sys.executable).with_name("persona-mcp"))


def _sandbox_key() -> str:
    """The sandbox's key, for this process and the bare server (which gets it in its environment, so
    that neither server imports the sandbox's code: a server as shipped never does)."""
    key = os.environ.get(_KEY_ENV)
    if key:
        return key
    from persona_mcp.sandbox import DEFAULT_API_KEY

    return DEFAULT_API_KEY


# -- the servers (child processes) -----------------------------------------------------------------------


def _serve_bare(port: int, sandbox_url: str, output_schemas: str | None, commit_to: str | None) -> None:
    """The floor (`_bare_server.py`) over streamable HTTP; with `output_schemas`, a JSON file of the
    output schema by tool name, declaring those; with `commit_to` (an SQLite file or a PostgreSQL URL),
    committing its records there (`durable_log`)."""
    import uvicorn
    from _bare_server import open_bare_server

    from persona_mcp.server.event_loop import loop_options

    schemas = json.loads(Path(output_schemas).read_text()) if output_schemas else None

    async def serve() -> None:
        async with open_bare_server(
            sandbox_url,
            _sandbox_key(),
            timeout_s=_CALL_TIMEOUT_S,
            output_schemas=schemas,
            commit_to=commit_to,
        ) as server:
            app = server.streamable_http_app()
            config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error")
            await uvicorn.Server(config).serve()

    anyio.run(serve, backend_options=loop_options())


def _serve_options(port: int, sessions: int) -> list[str]:
    """`persona-mcp serve` over HTTP, with session caps that fit `sessions`."""
    return [
        "serve",
        "--transport",
        "http",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--max-sessions",
        str(max(1000, sessions)),
        "--max-sessions-per-grant",
        str(max(10, sessions + 8)),
        "--log-level",
        "WARNING",
    ]


def _persona_env(data_dir: Path, sandbox_url: str, database_url: str | None) -> dict[str, str]:
    """The environment of `persona-mcp serve`: the sandbox as its upstream, as a user sets it."""
    env = {
        "PERSONA_MCP_DATA_DIR": str(data_dir),
        "PERSONA_MCP_ENVIRONMENT": "sandbox",
        "PERSONA_MCP_METRICS_TOKEN": _METRICS_TOKEN,
        "PERSONA_API_KEY": _sandbox_key(),
        "PERSONA_API_BASE_URL": f"{sandbox_url}/api/v1",
    }
    if database_url:
        env["PERSONA_MCP_DATABASE_URL"] = database_url
    return env


async def _prepare_persona(
    data_dir: Path, sandbox_url: str, database_url: str | None, token_file: Path
) -> None:
    """Migrate the store and issue the grant before the server is timed from spawn."""
    from persona_mcp.server.app import open_server
    from persona_mcp.testing import issue_grant, sandbox_settings

    settings = sandbox_settings(data_dir, database_url=database_url, base_url=f"{sandbox_url}/api/v1")
    async with open_server(settings, transport="http", resource_url="http://127.0.0.1/mcp") as app:
        token = await issue_grant(app, ["accounts:write"], principal="bench-agent")
    token_file.write_text(token)


def _child_main(args: argparse.Namespace) -> None:
    database_url = args.database_url or None
    if args.serve == "bare":
        _serve_bare(args.port, args.sandbox_url, args.output_schemas, args.commit_to)
    elif args.serve == "prepare":
        anyio.run(
            _prepare_persona, Path(args.data_dir), args.sandbox_url, database_url, Path(args.token_file)
        )


# -- the parent: processes, sessions, phases -------------------------------------------------------------


@dataclass(slots=True)
class Target:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    token: str | None
    cold_start_s: float
    #: Spawn to the first `tools/list` answered, in the same session: over HTTP persona-mcp answers
    #: `initialize` before its tool catalogue is open, so this is when a client can see its tools.
    first_list_s: float
    #: Whether the main ratio counts it: persona-mcp as shipped (not the code before a change, not a
    #: floor).
    shipped: bool = False
    #: persona-mcp (as shipped, or the code before a change), not one of the bare servers.
    persona: bool = False
    #: The database its records are committed to ("sqlite" or "postgresql"): persona-mcp's store, or a
    #: durable floor's log; None for a bare server that keeps none.
    database: str | None = None
    rss_mib: float | None = None
    results: dict[int, list[Phase]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Phase:
    calls_per_s: float
    p50_ms: float
    p95_ms: float
    read_p50_ms: float
    create_p50_ms: float
    #: The server process's CPU time (every thread, user and system) per call over the phase: the figure
    #: that decides throughput once the server's one interpreter is the bottleneck, and far steadier
    #: between runs than calls/s. NaN where /proc is not there.
    cpu_ms_per_call: float
    #: The CPU per call of the benchmark's own process (the clients: the SDK's `Client`, which parses each
    #: answer and checks structured content against the tool's output schema) and of the sandbox, over
    #: the same phase: on a machine of few cores these share the cores with the server.
    client_cpu_ms_per_call: float
    sandbox_cpu_ms_per_call: float
    #: The CPU per call of this machine's PostgreSQL processes (its backends, WAL writer and checkpointer:
    #: the store of the PostgreSQL server, and nothing for the others), and the share of all the
    #: machine's cores that was busy over the phase, and stolen by the hypervisor: near 1, the machine
    #: itself is the bottleneck, and every process's CPU per call weighs on every server's calls/s.
    postgres_cpu_ms_per_call: float
    cores_busy: float
    cores_stolen: float
    #: The server's main thread (its event loop: the SDK, the transport and every tool call's Python)
    #: alone: its CPU per call, and the share of the phase's wall-clock time it was on a core. A share
    #: near 1 means that thread is the bottleneck, so calls/s follow its CPU per call and nothing else
    #: (waits on the audit writer or upstream overlap with other calls' work).
    loop_cpu_ms_per_call: float
    loop_busy: float
    #: The p50 of each session's two settling calls (untimed by the phase): a new session's first
    #: `get_account` and first `create_account`, with the client's tool listing and its validators.
    first_calls_p50_ms: float = math.nan
    #: persona-mcp only: its own means over the phase, from `/metrics` (`_INSIDE_HISTOGRAMS`), in ms.
    inside_ms: dict[str, float] | None = None


def _spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env or None
    )


def _free_port() -> int:
    from persona_mcp.server.serving import free_port

    return free_port()


def _cpu_s(pid: int, *, thread: int | None = None) -> float:
    """CPU seconds used so far by process `pid` (all its threads; only `thread` if given: a process's
    main thread has the process's id), or NaN off Linux."""
    stat = Path(f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat")
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_cpu_s() -> float:
    """CPU seconds used so far by the PostgreSQL processes running on this machine (0 without any; a
    process that ends during a phase takes its share with it), or NaN off Linux.

    Read from each process's scheduler statistics, in nanoseconds: a short phase costs PostgreSQL less
    than the 10 ms clock tick that /proc/<pid>/stat counts in."""
    total_ns = 0
    try:
        processes = [entry for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    except OSError:
        return math.nan
    for process in processes:
        try:
            if (process / "comm").read_text().strip() == "postgres":
                total_ns += scheduled_ns(process)
        except (OSError, IndexError, ValueError):
            continue
    return total_ns / 1e9 if processes else math.nan


def _machine_ticks() -> tuple[int, int, int]:
    """All cores' clock ticks so far (/proc/stat): busy, in all, stolen by the hypervisor; zeros off
    Linux."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, IndexError, ValueError):
        return 0, 0, 0
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle and waiting for I/O
    steal = values[7] if len(values) > 7 else 0
    total = sum(values[:8])
    return total - idle - steal, total, steal


async def _wait_http(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    with anyio.fail_after(_READY_TIMEOUT_S):
        async with httpx2.AsyncClient(timeout=2.0) as http:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"{what} exited: {process.stderr.read().decode()[-2000:] if process.stderr else ''}"
                    )
                try:
                    await http.get(url)
                    return
                except httpx2.TransportError:
                    await anyio.sleep(0.01)


@asynccontextmanager
async def _session(url: str, token: str | None, http: httpx2.AsyncClient) -> AsyncIterator[Any]:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    # A session the SDK tears down raises (an exception group) here, in the task that uses it: `_phase`
    # counts the calls it had left as failed.
    async with Client(streamable_http_client(url, http_client=http)) as client:
        yield client


@asynccontextmanager
async def _http_client(token: str | None, sessions: int) -> AsyncIterator[httpx2.AsyncClient]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    limits = httpx2.Limits(max_connections=4 * sessions + 8, max_keepalive_connections=4 * sessions + 8)
    async with httpx2.AsyncClient(headers=headers, timeout=_CALL_TIMEOUT_S, limits=limits) as http:
        yield http


async def _cold_start(
    url: str, token: str | None, process: subprocess.Popen[bytes], started: float
) -> tuple[float, float]:
    """Spawn to the first `initialize` answered (the server polled until its port accepts), and to the
    first `tools/list` answered after it in that session."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    with anyio.fail_after(_READY_TIMEOUT_S):
        while True:
            if process.poll() is not None:
                err = process.stderr.read().decode()[-3000:] if process.stderr else ""
                raise RuntimeError(f"server exited before answering: {err}")
            try:
                async with _http_client(token, 1) as http:
                    async with Client(streamable_http_client(url, http_client=http)) as client:
                        initialized = time.perf_counter() - started
                        await client.list_tools()
                        return initialized, time.perf_counter() - started
            except Exception:  # not listening yet: connection refused inside the SDK's task group
                await anyio.sleep(0.01)


async def _phase(
    target: Target, sessions: int, calls: int, account_id: str, tag: str, sandbox_pid: int
) -> tuple[Phase, int]:
    """`calls` calls from `sessions` sessions at once; returns the figures and how many failed.

    Each session lives in its own task, opened before the clock starts: a session the SDK tears down
    (its stream reset on a loaded machine) fails only its own remaining calls, counted as failures."""
    latencies: list[float] = []
    by_tool: dict[str, list[float]] = {"get_account": [], "create_account": []}
    first_calls: list[float] = []
    failures = 0
    per_session = [calls // sessions + (1 if i < calls % sessions else 0) for i in range(sessions)]
    opened = 0
    all_open, ready = anyio.Event(), anyio.Event()

    def one_more_open() -> None:
        nonlocal opened
        opened += 1
        if opened == sessions:
            all_open.set()

    def failed(count: int, problem: str) -> None:
        nonlocal failures
        failures += count
        if failures == count:
            print(f"  {target.name}: failed: {problem}", file=sys.stderr)

    async with _http_client(target.token, sessions) as http:

        async def run(index: int, count: int) -> None:
            done = 0
            counted = False
            try:
                async with _session(target.url, target.token, http) as client:
                    first_calls.extend(await _settle(client, account_id, f"{tag}-{index}"))
                    one_more_open()
                    counted = True
                    await ready.wait()
                    for k in range(count):
                        if k % 5 == 4:
                            reference = f"bench-{tag}-{index}-{k}-{uuid.uuid4().hex[:8]}"
                            name, arguments = "create_account", {"reference_id": reference}
                        else:
                            name, arguments = "get_account", {"account_id": account_id}
                        began = time.perf_counter()
                        with anyio.fail_after(_CALL_TIMEOUT_S):
                            result = await client.call_tool(name, arguments)
                        latencies.append(time.perf_counter() - began)
                        by_tool[name].append(latencies[-1])
                        done += 1
                        if result.is_error:
                            failed(1, str(result.content)[:300])
            except Exception as exc:  # a timeout or a dropped session: its remaining calls failed
                failed(count - done, f"{type(exc).__name__}: {exc}"[:300])
            finally:
                if not counted:
                    one_more_open()

        async with anyio.create_task_group() as tg:
            for index, count in enumerate(per_session):
                tg.start_soon(run, index, count)
            await all_open.wait()
            inside_before = await _inside(target, http)
            pid = target.process.pid
            started, cpu_before, loop_before = time.perf_counter(), _cpu_s(pid), _cpu_s(pid, thread=pid)
            client_before = time.process_time()
            sandbox_before, postgres_before = _cpu_s(sandbox_pid), _postgres_cpu_s()
            machine_before = _machine_ticks()
            ready.set()
        elapsed, cpu = time.perf_counter() - started, _cpu_s(pid) - cpu_before
        loop_cpu = _cpu_s(pid, thread=pid) - loop_before
        client_cpu = time.process_time() - client_before
        sandbox_cpu = _cpu_s(sandbox_pid) - sandbox_before
        postgres_cpu = _postgres_cpu_s() - postgres_before
        busy, total, stolen = (
            after - before for after, before in zip(_machine_ticks(), machine_before, strict=True)
        )
        inside_after = await _inside(target, http)
    if not latencies:
        raise RuntimeError(f"{target.name}: every call failed at {sessions} sessions")
    latencies.sort()
    p95 = statistics.quantiles(latencies, n=100)[94] if len(latencies) >= 2 else latencies[0]
    # NaN when a phase made no call of a kind (a handful of calls per session: no create).
    reads, creates = by_tool["get_account"] or [math.nan], by_tool["create_account"] or [math.nan]
    phase = Phase(
        len(latencies) / elapsed,
        statistics.median(latencies) * 1000,
        p95 * 1000,
        statistics.median(reads) * 1000,
        statistics.median(creates) * 1000,
        cpu * 1000 / len(latencies),
        client_cpu * 1000 / len(latencies),
        sandbox_cpu * 1000 / len(latencies),
        postgres_cpu * 1000 / len(latencies),
        busy / total if total else math.nan,
        stolen / total if total else math.nan,
        loop_cpu * 1000 / len(latencies),
        loop_cpu / elapsed,
        statistics.median(first_calls) * 1000 if first_calls else math.nan,
        _means_ms(inside_before, inside_after),
    )
    return phase, failures


async def _inside(target: Target, http: httpx2.AsyncClient) -> dict[str, tuple[float, float]] | None:
    """(sum of seconds, count) of each of `_INSIDE_HISTOGRAMS` as persona-mcp's `/metrics` says now;
    None for a server that has none (the bare ones)."""
    if target.token is None:
        return None
    from prometheus_client.parser import text_string_to_metric_families

    response = await http.get(
        target.url.removesuffix("/mcp") + "/metrics", headers={"Authorization": f"Bearer {_METRICS_TOKEN}"}
    )
    response.raise_for_status()
    totals = {key: [0.0, 0.0] for key in _INSIDE_HISTOGRAMS}
    names = {
        f"{name}_{part}": (key, i)
        for key, name in _INSIDE_HISTOGRAMS.items()
        for i, part in ((0, "sum"), (1, "count"))
    }
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name in names:
                key, i = names[sample.name]
                totals[key][i] += sample.value
    return {key: (total, count) for key, (total, count) in totals.items()}


def _means_ms(
    before: dict[str, tuple[float, float]] | None, after: dict[str, tuple[float, float]] | None
) -> dict[str, float] | None:
    """The mean of each histogram over the phase, in ms (NaN where it observed nothing)."""
    if before is None or after is None:
        return None
    means: dict[str, float] = {}
    for key, (total, count) in after.items():
        seconds, observed = total - before[key][0], count - before[key][1]
        means[key] = seconds / observed * 1000 if observed else math.nan
    return means


async def _settle(client: Any, account_id: str, tag: str) -> list[float]:
    """A new session's first call of each tool, untimed by the phase; returns their latencies."""
    taken: list[float] = []
    for name, arguments in (
        ("get_account", {"account_id": account_id}),
        ("create_account", {"reference_id": f"bench-settle-{tag}-{uuid.uuid4().hex[:8]}"}),
    ):
        began = time.perf_counter()
        with anyio.fail_after(_CALL_TIMEOUT_S):
            result = await client.call_tool(name, arguments)
        if result.is_error:
            raise RuntimeError(f"settling call {name} failed: {str(result.content)[:300]}")
        taken.append(time.perf_counter() - began)
    return taken


async def _start_sandbox(procs: list[subprocess.Popen[bytes]]) -> tuple[subprocess.Popen[bytes], str, str]:
    """The sandbox (seed `demo`) on a free port, ready: its process, its URL and an account id."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    sandbox = _spawn("-m", "persona_mcp.cli", "sandbox", "--seed", "demo", "--port", str(port))
    procs.append(sandbox)
    await _wait_http(f"{url}/api/v1/accounts", sandbox, "the sandbox")
    return sandbox, url, await _first_account(url)


async def _first_account(sandbox_url: str) -> str:
    async with httpx2.AsyncClient(timeout=_CALL_TIMEOUT_S) as http:
        response = await http.get(
            f"{sandbox_url}/api/v1/accounts",
            headers={"Authorization": f"Bearer {_sandbox_key()}", **PERSONA_HEADERS},
        )
        response.raise_for_status()
        account_id: str = response.json()["data"][0]["id"]
        return account_id


@contextmanager
def _processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in started:
            try:
                # A profiled server writes its profile on the way out: minutes on a loaded machine.
                process.wait(timeout=180)
            except subprocess.TimeoutExpired:
                process.kill()


async def _start_target(
    name: str,
    kind: str,
    sandbox_url: str,
    tmp: Path,
    database_url: str | None,
    max_sessions: int,
    procs: list[subprocess.Popen[bytes]],
    profile_dir: Path | None,
    src: str | None = None,
    output_schemas: Path | None = None,
    commit_to: str | None = None,
) -> Target:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    script = str(Path(__file__).resolve())
    common = ["--sandbox-url", sandbox_url, "--port", str(port), "--database-url", database_url or ""]
    token: str | None = None
    env = dict(os.environ)
    if src is not None:  # another checkout's src/ (the code before a change), side by side
        env["PYTHONPATH"] = src
    if kind == "persona":
        data_dir = tmp / name.replace(" ", "-")
        data_dir.mkdir()
        token_file = data_dir / "token"
        prepare = _spawn(
            script,
            "--serve",
            "prepare",
            "--data-dir",
            str(data_dir),
            "--token-file",
            str(token_file),
            *common,
            env=env,
        )
        _, err = prepare.communicate(timeout=120)
        if prepare.returncode != 0:
            raise RuntimeError(f"preparing {name} failed: {err.decode()[-3000:]}")
        token = token_file.read_text()
        # As shipped: `persona-mcp serve --transport http`, set up by its environment as a user would.
        command = [PERSONA_MCP, *_serve_options(port, max_sessions)]
        if profile_dir is not None:
            profile = profile_dir / f"{name.replace(' ', '-')}.prof"
            command = [sys.executable, "-m", "cProfile", "-o", str(profile), *command]
        env = {k: v for k, v in env.items() if not k.startswith(("PERSONA_MCP_", "PERSONA_API_"))}
        env.update(_persona_env(data_dir, sandbox_url, database_url))
    else:
        command = [sys.executable, script, "--serve", "bare", *common]
        if output_schemas is not None:
            command += ["--output-schemas", str(output_schemas)]
        if commit_to is not None:
            command += ["--commit-to", commit_to]
        env[_KEY_ENV] = _sandbox_key()
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    procs.append(process)
    cold, listed = await _cold_start(url, token, process, started)
    persona = kind == "persona"
    if persona:
        database: str | None = _database_of(database_url)
    else:
        database = None if commit_to is None else _database_of(commit_to)
    return Target(
        name,
        url,
        process,
        token,
        cold,
        listed,
        shipped=persona and src is None,
        persona=persona,
        database=database,
    )


def _database_of(url_or_path: str | None) -> str:
    """ "postgresql" for a PostgreSQL URL, else "sqlite" (persona-mcp's default store, or an SQLite file)."""
    return "postgresql" if url_or_path and url_or_path.startswith("postgresql") else "sqlite"


async def _output_schemas(target: Target, path: Path) -> Path:
    """The output schemas of the two tools, as `target`'s `tools/list` declares them, written to `path`."""
    async with _http_client(target.token, 1) as http, _session(target.url, target.token, http) as client:
        listed = await client.list_tools()
    schemas = {tool.name: tool.output_schema for tool in listed.tools if tool.name in _TOOL_NAMES}
    if set(schemas) != set(_TOOL_NAMES) or not all(schemas.values()):
        raise RuntimeError(f"{target.name} lists no output schema for some of {_TOOL_NAMES}")
    path.write_text(json.dumps(schemas))
    return path


async def _run(args: argparse.Namespace) -> None:
    drops: list[Callable[[], None]] = []
    try:
        await _run_targets(args, drops)
    finally:
        for drop in drops:
            drop()


def _schema(base: str, drops: list[Callable[[], None]]) -> str:
    url, drop = _pg_schema_url(base)
    drops.append(drop)
    return url


async def _run_targets(args: argparse.Namespace, drops: list[Callable[[], None]]) -> None:
    # Every server starts as installed: see _installed.py (cold start, issue 18).
    sources = [persona_mcp_package(), BENCHMARKS]
    if args.also_src:
        sources.append(persona_mcp_package(args.also_src))
    compile_like_an_install(*sources)
    with tempfile.TemporaryDirectory(prefix="persona-mcp-throughput-") as tmp_name, _processes() as procs:
        tmp = Path(tmp_name)
        sandbox, sandbox_url, account_id = await _start_sandbox(procs)
        max_sessions = max(args.sessions)
        plan: list[tuple[str, str | None, str | None]] = [("persona-mcp sqlite", None, None)]
        if args.database_url:
            plan.append(("persona-mcp postgresql", _schema(args.database_url, drops), None))
        if args.also_src:
            plan.append(("before: sqlite", None, str(args.also_src)))
            if args.database_url:
                plan.append(("before: postgresql", _schema(args.database_url, drops), str(args.also_src)))
        targets = [await _start_target("bare", "bare", sandbox_url, tmp, None, max_sessions, procs, None)]
        for name, database_url, src in plan:
            targets.append(
                await _start_target(
                    name, "persona", sandbox_url, tmp, database_url, max_sessions, procs, args.profile, src
                )
            )
        schemas = await _output_schemas(targets[1], tmp / "output-schemas.json")
        targets.append(
            await _start_target(
                _SCHEMA_FLOOR, "bare", sandbox_url, tmp, None, max_sessions, procs, None, None, schemas
            )
        )
        if args.floor:
            logs = [str(tmp / "bare-durable.sqlite3")]
            if args.database_url:
                logs.append(_schema(args.database_url, drops))
            for commit_to in logs:
                name = f"durable floor {_database_of(commit_to)}"
                targets.append(
                    await _start_target(
                        name, "bare", sandbox_url, tmp, None, max_sessions, procs, None, commit_to=commit_to
                    )
                )
        warmup_sessions = min(8, max_sessions)
        for target in targets:
            _, failures = await _phase(
                target, warmup_sessions, args.rss_after, account_id, "warmup", sandbox.pid
            )
            if failures:
                raise RuntimeError(f"{target.name}: {failures} warm-up calls failed")
            target.rss_mib = rss_mib(target.process.pid)
        for run in range(args.runs):
            for sessions in args.sessions:
                order = targets[run % len(targets) :] + targets[: run % len(targets)]
                for target in order:
                    phase, failures = await _phase(
                        target, sessions, args.calls, account_id, f"r{run}s{sessions}", sandbox.pid
                    )
                    if failures:
                        print(
                            f"  {target.name}: {failures} calls failed at {sessions} sessions",
                            file=sys.stderr,
                        )
                    target.results.setdefault(sessions, []).append(phase)
        _report(targets, args)


def _median(phases: list[Phase], pick: Callable[[Phase], float]) -> float:
    return statistics.median(pick(phase) for phase in phases)


def _ratio(value: float, base: float) -> str:
    return "n/a" if math.isnan(value) or math.isnan(base) or base == 0 else f"{value / base:.2f}"


def _report(targets: list[Target], args: argparse.Namespace) -> None:
    bare = targets[0]
    print(
        f"\n{args.calls} calls per phase, 80 % get_account / 20 % create_account, "
        f"{args.runs} runs interleaved"
    )
    head = f"{'sessions':>8}  {'server':<24} {'calls/s':>9} {'p50 ms':>8} {'p95 ms':>8}"
    print(f"{head}   ratio to bare: calls/s  p50  p95   (runs: calls/s)")
    ratios: list[tuple[str, int, float]] = []
    for sessions in args.sessions:
        base = bare.results[sessions]
        b_rate, b_p50, b_p95 = (
            _median(base, lambda p: p.calls_per_s),
            _median(base, lambda p: p.p50_ms),
            _median(base, lambda p: p.p95_ms),
        )
        for target in targets:
            phases = target.results[sessions]
            rate, p50, p95 = (
                _median(phases, lambda p: p.calls_per_s),
                _median(phases, lambda p: p.p50_ms),
                _median(phases, lambda p: p.p95_ms),
            )
            runs = ", ".join(f"{p.calls_per_s:.0f}" for p in phases)
            ratio = (
                "" if target is bare else f"{rate / b_rate:>22.2f} {p50 / b_p50:>4.2f} {p95 / b_p95:>4.2f}"
            )
            row = f"{sessions:>8}  {target.name:<24} {rate:>9.1f} {p50:>8.2f} {p95:>8.2f}"
            print(f"{row}   {ratio:<32} ({runs})")
            if target.shipped:
                ratios.append((target.name, sessions, rate / b_rate))
    print("\np50 latency by call, ms (ratio to bare), the latency targets' figures:")
    for sessions in args.sessions:
        b_read, b_create = _call_p50s(bare, sessions)
        for target in targets:
            read, create = _call_p50s(target, sessions)
            ratios_text = "" if target is bare else f" ({_ratio(read, b_read)})"
            create_ratio = "" if target is bare else f" ({_ratio(create, b_create)})"
            print(
                f"{sessions:>8}  {target.name:<24} get_account {read:>8.2f}{ratios_text:<7} "
                f"create_account {create:>8.2f}{create_ratio}"
            )
    _print_against_durable_floor(targets, args.sessions)
    print("\nserver CPU per call, ms (ratio to bare; all threads, user + system):")
    _print_against_bare(targets, args.sessions, lambda p: p.cpu_ms_per_call)
    print("\nthe server's event-loop (main) thread alone: CPU per call, ms (ratio to bare)")
    _print_against_bare(targets, args.sessions, lambda p: p.loop_cpu_ms_per_call)
    print(
        "\nthe share of each phase the event-loop thread was on a core (ratio to bare; near 1.00: "
        "that thread is the bottleneck, and calls/s follow its CPU per call)"
    )
    _print_against_bare(targets, args.sessions, lambda p: p.loop_busy)
    print(
        "\nthe rest of the machine's CPU per call, ms (medians): the clients' process, the sandbox, "
        f"PostgreSQL's processes; then the share of the machine's {os.cpu_count()} cores busy over the "
        "phase, and stolen by the hypervisor"
    )
    for sessions in args.sessions:
        for target in targets:
            phases = target.results[sessions]
            client = _median(phases, lambda p: p.client_cpu_ms_per_call)
            sandbox = _median(phases, lambda p: p.sandbox_cpu_ms_per_call)
            postgres = _median(phases, lambda p: p.postgres_cpu_ms_per_call)
            busy = _median(phases, lambda p: p.cores_busy)
            stolen = _median(phases, lambda p: p.cores_stolen)
            print(
                f"{sessions:>8}  {target.name:<24} clients {client:>6.2f}   sandbox {sandbox:>6.2f}   "
                f"postgresql {postgres:>6.2f}   cores busy {busy:>4.2f}   stolen {stolen:>4.2f}"
            )
    floor = next(target for target in targets if target.name == _SCHEMA_FLOOR)
    print(f"\npersona-mcp's calls/s against the {_SCHEMA_FLOOR} (the same clients' work), medians:")
    for sessions in args.sessions:
        f_rate = _median(floor.results[sessions], lambda p: p.calls_per_s)
        for target in targets:
            if target.persona:
                rate = _median(target.results[sessions], lambda p: p.calls_per_s)
                print(f"{sessions:>8}  {target.name:<24} {_ratio(rate, f_rate):>6}")
    print(
        "\ninside persona-mcp, mean ms (medians over runs, from its /metrics): a tool call as audited, "
        "an upstream request, an audit record from submitted to durable"
    )
    for sessions in args.sessions:
        for target in targets:
            measured = [p.inside_ms for p in target.results[sessions] if p.inside_ms is not None]
            if measured:
                call, upstream, durable = (
                    statistics.median(m[key] for m in measured) for key in ("call", "upstream", "durable")
                )
                print(
                    f"{sessions:>8}  {target.name:<24} call {call:>7.2f}   upstream {upstream:>7.2f}   "
                    f"durable {durable:>7.2f}"
                )
    print("\nfirst calls in a new session (its settling calls: tool listing and validators), p50 ms:")
    _print_against_bare(targets, args.sessions, lambda p: p.first_calls_p50_ms)
    print()
    for target in targets:
        rss = f"{target.rss_mib:.1f} MiB" if target.rss_mib is not None else "n/a"
        cold_ratio = f" ({target.cold_start_s / bare.cold_start_s:.2f}x bare)" if target is not bare else ""
        list_ratio = f" ({target.first_list_s / bare.first_list_s:.2f}x)" if target is not bare else ""
        cold = (
            f"cold start (spawn -> initialize) {target.cold_start_s:.3f} s{cold_ratio}, "
            f"-> tools/list {target.first_list_s:.3f} s{list_ratio}"
        )
        print(f"{target.name:<24} {cold}; RSS after {args.rss_after} calls {rss}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    loaded = [r for r in ratios if r[1] >= 8] or ratios
    name, sessions, worst = min(loaded, key=lambda r: r[2])
    where = "lowest persona-mcp/bare calls/s at 8+ sessions; target >= 0.80"
    print(f"main ratio ({where}): {worst:.2f} ({name}, {sessions} sessions)")


def _call_p50s(target: Target, sessions: int) -> tuple[float, float]:
    """`target`'s p50 ms of `get_account` and of `create_account` at `sessions`, medians over runs."""
    phases = target.results[sessions]
    return _median(phases, lambda p: p.read_p50_ms), _median(phases, lambda p: p.create_p50_ms)


def _print_against_durable_floor(targets: list[Target], sessions_counts: list[int]) -> None:
    """With `--floor`: each persona-mcp server's p50 by call against the durable floor on its database
    (what persona-mcp adds to what the audit's promises cost), and that floor's against bare (what they
    cost any server)."""
    floors = {t.database: t for t in targets if not t.persona and t.database is not None}
    if not floors:
        return
    bare = targets[0]
    print(
        "\np50 latency by call against the durable floor on the same database (the bare server committing "
        "a create's intent before its POST and each outcome before its answer); the floor against bare"
    )

    for sessions in sessions_counts:
        b_read, b_create = _call_p50s(bare, sessions)
        for db, floor in floors.items():
            f_read, f_create = _call_p50s(floor, sessions)
            print(
                f"{sessions:>8}  {floor.name:<24} get_account {_ratio(f_read, b_read):>5}x bare   "
                f"create_account {_ratio(f_create, b_create):>5}x bare"
            )
            for target in targets:
                if target.persona and target.database == db:
                    read, create = _call_p50s(target, sessions)
                    print(
                        f"{sessions:>8}  {target.name:<24} get_account {_ratio(read, f_read):>5}x floor  "
                        f"create_account {_ratio(create, f_create):>5}x floor"
                    )


def _print_against_bare(
    targets: list[Target], sessions_counts: list[int], pick: Callable[[Phase], float]
) -> None:
    """One figure per session count and server: its median over runs, its ratio to the bare server's
    (the first target), and each run's."""
    bare = targets[0]
    for sessions in sessions_counts:
        base = _median(bare.results[sessions], pick)
        for target in targets:
            value = _median(target.results[sessions], pick)
            runs = ", ".join(f"{pick(p):.2f}" for p in target.results[sessions])
            ratio = "" if target is bare else f" ({_ratio(value, base)})"
            print(f"{sessions:>8}  {target.name:<24} {value:>6.2f}{ratio:<7}   (runs: {runs})")


def _pg_schema_url(base: str) -> tuple[str, Callable[[], None]]:
    """A fresh schema on `base` and the URL selecting it; the returned callable drops it."""
    from sqlalchemy import create_engine, text

    schema = f"bench_tp_{uuid.uuid4().hex[:10]}"
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
    parser.add_argument(
        "--sessions", type=int, nargs="+", default=[1, 8, 64], help="session counts (default 1 8 64)"
    )
    parser.add_argument("--calls", type=int, default=400, help="calls per phase (default 400)")
    parser.add_argument(
        "--rss-after",
        type=int,
        default=_RSS_AFTER_CALLS,
        help=f"warm-up calls per server, after which RSS is read (default {_RSS_AFTER_CALLS})",
    )
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs (default 3)")
    parser.add_argument(
        "--database-url",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="PostgreSQL server for the second persona-mcp",
    )
    parser.add_argument("--no-postgres", action="store_true", help="persona-mcp on SQLite only")
    parser.add_argument(
        "--profile",
        type=Path,
        help="write a cProfile profile of each persona-mcp server to this directory",
    )
    parser.add_argument(
        "--also-src",
        type=other_source,
        help="also run persona-mcp from another checkout: its src/ directory or its root (say, a worktree "
        "of the code before a change)",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also run the bare server committing its records durably, on SQLite and PostgreSQL",
    )
    # Child modes (the script starts itself as each server).
    parser.add_argument("--serve", choices=["bare", "prepare"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sandbox-url", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--token-file", help=argparse.SUPPRESS)
    parser.add_argument("--output-schemas", help=argparse.SUPPRESS)
    parser.add_argument("--commit-to", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _child_main(args)
        return
    from persona_mcp.logs import configure_logging

    configure_logging("WARNING")
    if args.no_postgres:
        args.database_url = None
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    try:
        anyio.run(_run, args)
    except BaseException as exc:
        for leaf in _leaves(exc):
            print(f"failed: {type(leaf).__name__}: {leaf}", file=sys.stderr)
        raise


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


if __name__ == "__main__":
    main()
