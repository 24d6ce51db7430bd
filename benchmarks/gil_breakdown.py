"""Where each server's GIL-held time per call goes, persona-mcp against the bare server, over HTTP.

`throughput.py` says how much CPU a call costs each server; this says where persona-mcp's goes. Both
servers run as `throughput.py` runs them (persona-mcp as shipped on SQLite, the bare low-level SDK
server, one sandbox, the same 80/20 `get_account`/`create_account` mix from `--sessions` sessions) and
serve `--phases` phases of `--calls` calls each, the servers alternated phase by phase so that both see
the same machine. py-spy samples each server throughout with `--gil` (only the thread holding the GIL:
Python's own time, the one core a server process can use; a server waiting for its next phase holds
no GIL and is not sampled), and every sampled stack is put in one category by the first rule it
matches (`CATEGORIES`). Printed: each category's GIL-held milliseconds per call for both servers, then
the totals; the last line is the ratio of the totals.

    .venv/bin/python benchmarks/gil_breakdown.py [--sessions 8] [--calls 2000] [--phases 3] [--rate 250]

Needs py-spy (`pip install py-spy`) and the right to attach to a child process (ptrace); without either
it says so and ends on "main ratio: skipped". Samples are taken `--rate` times a second, so a category
of a few samples is noise: read the figures next to each other, not to the microsecond.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

import anyio
from _installed import BENCHMARKS, compile_like_an_install, persona_mcp_package
from throughput import _phase, _processes, _start_sandbox, _start_target

#: (category, substrings of a stack that put it there); the first match wins, in this order.
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("audit writer thread (seal, hash, insert, commit)", ("WriterThread._run",)),
    (
        "upstream request (client, rate gate, observation, transport)",
        ("PersonaClient._call", "AsyncClient.request"),
    ),
    (
        "audit on the event loop (event built, dumped, submitted, awaited)",
        ("AuditLog.", "CallPipeline._start_intent", "CallPipeline._event", "CallPipeline._outcome"),
    ),
    ("tool handler besides upstream and audit (policy, validation, result, metrics)", ("on_call_tool",)),
    ("bearer authentication", ("verify_token", "BearerAuthBackend")),
    (
        "SDK request handling outside the tool (session, JSON-RPC, serialisation)",
        ("handle_modern_request", "ServerRunner"),
    ),
    ("HTTP parsing and writing (uvicorn: h11 or httptools)", ("h11_impl", "h11/", "httptools_impl")),
)
REST = "event loop and the rest (uvloop's callbacks, stacks py-spy could not root)"


def categorize(stack: str) -> str:
    """The category of one sampled stack (py-spy's raw format: frames joined by ';')."""
    for category, markers in CATEGORIES:
        if any(marker in stack for marker in markers):
            return category
    return REST


def per_call_ms(raw_lines: Iterable[str], *, calls: int, rate: int) -> dict[str, float]:
    """GIL-held milliseconds per call by category, from py-spy's raw output (`stack count` per line)."""
    samples: collections.Counter[str] = collections.Counter()
    for line in raw_lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if stack and count.isdigit():
            samples[categorize(stack)] += int(count)
    return {category: count * 1000 / rate / calls for category, count in samples.items()}


def _py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


async def _profile(args: argparse.Namespace, py_spy: str) -> dict[str, dict[str, float]]:
    compile_like_an_install(persona_mcp_package(), BENCHMARKS)  # started as installed: see _installed.py
    found: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="persona-mcp-gil-") as tmp_name, _processes() as procs:
        tmp = Path(tmp_name)
        sandbox, sandbox_url, account_id = await _start_sandbox(procs)
        targets = {
            name: await _start_target(name, kind, sandbox_url, tmp, None, args.sessions, procs, None)
            for name, kind in (("bare", "bare"), ("persona-mcp", "persona"))
        }
        for target in targets.values():
            await _phase(target, args.sessions, min(args.calls, 400), account_id, "warmup", sandbox.pid)
        spies: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
        for name, target in targets.items():
            raw = tmp / f"{target.process.pid}.txt"
            command = [py_spy, "record", "--gil", "--nonblocking", "--format", "raw", "-r", str(args.rate)]
            command += ["-p", str(target.process.pid), "-o", str(raw)]
            spies[name] = (subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), raw)
        await anyio.sleep(1.0)  # both attached before the first measured call
        for phase in range(args.phases):  # alternated, so both servers see the same machine
            order = list(targets) if phase % 2 == 0 else list(reversed(targets))
            for name in order:
                _, failures = await _phase(
                    targets[name], args.sessions, args.calls, account_id, f"p{phase}", sandbox.pid
                )
                if failures:
                    raise RuntimeError(f"{name}: {failures} calls failed")
        for name, (spy, raw) in spies.items():
            spy.send_signal(signal.SIGINT)
            _, err = spy.communicate(timeout=60)
            if not raw.exists():
                raise RuntimeError(f"py-spy recorded nothing for {name}: {err.decode()[-1000:]}")
            with raw.open() as lines:
                found[name] = per_call_ms(lines, calls=args.calls * args.phases, rate=args.rate)
    return found


def _report(found: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    persona, bare = found["persona-mcp"], found["bare"]
    print(
        f"GIL-held ms per call, {args.sessions} sessions, {args.phases} x {args.calls} calls per server, "
        f"py-spy --gil at {args.rate} Hz"
    )
    print(f"{'persona-mcp':>12} {'bare':>8}  category")
    order = [category for category, _ in CATEGORIES] + [REST]
    for category in sorted(order, key=lambda c: -persona.get(c, 0.0)):
        print(f"{persona.get(category, 0.0):>12.3f} {bare.get(category, 0.0):>8.3f}  {category}")
    total_persona, total_bare = sum(persona.values()), sum(bare.values())
    print(f"{total_persona:>12.3f} {total_bare:>8.3f}  total")
    print(f"main ratio (persona-mcp/bare GIL-held time per call): {total_persona / total_bare:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=8, help="sessions at once (default 8)")
    parser.add_argument("--calls", type=int, default=2000, help="calls per phase (default 2000)")
    parser.add_argument("--phases", type=int, default=3, help="profiled phases per server (default 3)")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second (default 250)")
    args = parser.parse_args()
    py_spy = _py_spy()
    if py_spy is None:
        print("py-spy was not found: pip install py-spy")
        print("main ratio: skipped (py-spy not installed)")
        return
    from persona_mcp.logs import configure_logging

    configure_logging("WARNING")
    _report(anyio.run(_profile, args, py_spy), args)


if __name__ == "__main__":
    main()
