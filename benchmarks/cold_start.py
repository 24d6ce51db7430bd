"""Cold start: spawn to `initialize` answer (and to the first `tools/list`) for persona-mcp over stdio,
side by side with a bare low-level SDK server doing nothing, and how long `persona-mcp --help` takes.

What a desktop client sees when it starts the server: the process is spawned, `initialize` is written
to its stdin at once, and the clock stops when the answer line arrives; then `notifications/initialized`
and `tools/list` follow and the second clock stops at that answer. persona-mcp runs as a desktop client
would run it: `persona-mcp serve` with a grant token on a fresh data directory (migrated and holding the
grant before the first run, as after `persona-mcp grants create`) and the sandbox key; no upstream call
is made. The bare server is this script run with `--bare-server`: the SDK's low-level `Server` with an
empty `tools/list`, on the SDK's stdio transport. Runs alternate the two (order swapped every run), so
both see the same machine load, which is printed before and after.

    .venv/bin/python benchmarks/cold_start.py [--runs 10] [--help-runs 10] [--log-records N]

`--log-records N` starts persona-mcp on a data directory whose audit log already holds N records, written
as this server's own instance would have written them (`console_search.py`'s varied calls: reads, writes
with their intent and outcome, denials, a few calls left unresolved): a server that has run for months.

Targets (issue 12): spawn-to-initialize at most 1.3x the bare server's (medians); `--help` under 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PERSONA_MCP = str(Path(sys.executable).with_name("persona-mcp"))
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "cold-start-benchmark", "version": "1"},
    },
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
LIST_TOOLS = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class Start:
    initialize: float
    tools_list: float
    tools: int


def _bare_server() -> None:
    """The yardstick: what any Python MCP server on the SDK imports and does before it can answer."""
    import anyio
    import mcp_types as types
    from mcp.server.lowlevel import Server
    from mcp.server.stdio import stdio_server

    async def list_tools(ctx: object, params: object) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[])

    async def main() -> None:
        server = Server("bare", on_list_tools=list_tools)
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    anyio.run(main)


def _answer(process: subprocess.Popen[bytes], request_id: int, deadline: float) -> dict[str, object]:
    """The JSON-RPC response with this id (notifications and log lines on stdout are skipped)."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while True:
            if not selector.select(timeout=max(0.0, deadline - time.perf_counter())):
                raise TimeoutError(f"no answer to request {request_id} within {TIMEOUT_SECONDS} s")
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"the server exited before answering request {request_id}")
            message = json.loads(line)
            if message.get("id") == request_id:
                if "error" in message:
                    raise RuntimeError(f"request {request_id} failed: {message['error']}")
                return message


def measure(command: list[str], env: dict[str, str]) -> Start:
    """Spawn, initialize, list tools; the process is ended afterwards (stdin closed, then terminated)."""
    started = time.perf_counter()
    deadline = started + TIMEOUT_SECONDS
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    )
    assert process.stdin is not None
    try:
        process.stdin.write((json.dumps(INITIALIZE) + "\n").encode())
        process.stdin.flush()
        _answer(process, 1, deadline)
        initialized = time.perf_counter() - started
        process.stdin.write((json.dumps(INITIALIZED) + "\n" + json.dumps(LIST_TOOLS) + "\n").encode())
        process.stdin.flush()
        listed = _answer(process, 2, deadline)
        tools = len(listed["result"]["tools"])  # type: ignore[index]
        return Start(initialized, time.perf_counter() - started, tools)
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.terminate()
            process.wait(timeout=30)


def _persona_env(data_dir: Path, log_records: int = 0) -> dict[str, str]:
    """A data directory, migrated, with a grant for `accounts:read` (the stdio caller holds it) and, with
    `log_records`, that many records already in its audit log, under the instance id `serve` will use."""
    import anyio

    from persona_mcp.audit.writer import default_instance_id
    from persona_mcp.testing import issue_grant, sandbox_settings

    if log_records:
        from console_search import _fill

        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        url = sandbox_settings(data_dir, base_url="http://127.0.0.1:9/api/v1").resolved_database_url
        anyio.run(_fill, url, log_records, default_instance_id(data_dir))

    async def grant() -> str:
        from persona_mcp.server.app import open_server

        settings = sandbox_settings(data_dir, base_url="http://127.0.0.1:9/api/v1")
        async with open_server(settings, instance_id="cold-start-setup") as app:
            return await issue_grant(app, ["accounts:read"], principal="cold-start")

    token = anyio.run(grant)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PERSONA_MCP_", "PERSONA_API_"))}
    env.update(
        {
            "PERSONA_MCP_DATA_DIR": str(data_dir),
            "PERSONA_MCP_TOKEN": token,
            "PERSONA_API_KEY": "persona_sandbox_demo",
            "PERSONA_API_BASE_URL": "http://127.0.0.1:9/api/v1",  # never called: no tool call is made
        }
    )
    return env


def _help_seconds(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([PERSONA_MCP, "--help"], capture_output=True, check=True, timeout=TIMEOUT_SECONDS)
        times.append(time.perf_counter() - started)
    return times


def _load() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="starts of each server, alternated")
    parser.add_argument("--help-runs", type=int, default=10, help="runs of `persona-mcp --help`")
    parser.add_argument(
        "--log-records", type=int, default=0, help="records already in persona-mcp's audit log (default 0)"
    )
    parser.add_argument("--bare-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        _bare_server()
        return

    from _installed import BENCHMARKS, compile_like_an_install, persona_mcp_package

    compile_like_an_install(persona_mcp_package(), BENCHMARKS)  # started as installed: see _installed.py
    with tempfile.TemporaryDirectory(prefix="persona-mcp-cold-start-") as scratch:
        persona_env = _persona_env(Path(scratch) / "data", args.log_records)
        bare_env = dict(os.environ)
        servers = {
            "persona-mcp": ([PERSONA_MCP, "serve", "--log-level", "WARNING"], persona_env),
            "bare server": ([sys.executable, str(Path(__file__).resolve()), "--bare-server"], bare_env),
        }
        print(f"before: {_load()}")
        results: dict[str, list[Start]] = {name: [] for name in servers}
        for run in range(args.runs):
            order = list(servers) if run % 2 == 0 else list(reversed(servers))
            for name in order:
                command, env = servers[name]
                results[name].append(measure(command, env))
            line = "   ".join(
                f"{name}: initialize {last.initialize:.3f} s, tools/list {last.tools_list:.3f} s"
                for name, last in ((name, results[name][-1]) for name in servers)
            )
            print(f"run {run + 1:2d}  {line}")
        print(f"after:  {_load()}")

    medians = {
        name: (statistics.median(s.initialize for s in runs), statistics.median(s.tools_list for s in runs))
        for name, runs in results.items()
    }
    for name, (initialize, listed) in medians.items():
        print(
            f"{name:12s} median: spawn -> initialize {initialize:.3f} s, spawn -> tools/list {listed:.3f} s "
            f"({results[name][0].tools} tools)"
        )
    ratio_initialize = medians["persona-mcp"][0] / medians["bare server"][0]
    ratio_list = medians["persona-mcp"][1] / medians["bare server"][1]
    verdict = "met" if ratio_initialize <= 1.3 else "missed"
    print(f"ratio spawn -> initialize {ratio_initialize:.2f} (target <= 1.3: {verdict})")
    print(f"ratio spawn -> tools/list {ratio_list:.2f} (no target: the stack is open by then)")
    helps = _help_seconds(args.help_runs)
    help_median = statistics.median(helps)
    verdict = "met" if help_median < 0.5 else "missed"
    print(
        f"persona-mcp --help median {help_median:.3f} s over {len(helps)} runs "
        f"(min {min(helps):.3f}, max {max(helps):.3f}; target < 0.5 s: {verdict})"
    )


if __name__ == "__main__":
    main()
