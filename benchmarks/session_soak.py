"""Soak: session churn, a session flood from one grant and slowloris connections against `serve --transport
http`, sampling the server process's RSS and open file descriptors (issue 11, case 3).

The server runs as a child process (`persona-mcp serve --transport http`), its upstream the sandbox served
in this process. For `--seconds` it is hit by, all at once:

- a flood of `initialize` requests from a read-only grant limited to 1 call/min (the issue's grant), and
  from a second grant with no rate limit (it runs into the per-grant session cap); flood sessions are
  abandoned, never ended, so only the idle timeout frees them;
- session churn from a third grant: open a session, call `list_accounts`, end it with DELETE (one in four
  is abandoned instead);
- a probe from a fourth grant every few seconds (open, call, end): it must always be served;
- `--slowloris` connections trickling header bytes, reopened whenever the server closes one.

Every `--sample` seconds it prints RSS, file descriptors and the open session count from `/healthz`;
at the end, the first and last samples after warm-up and the counts of each answer.

    .venv/bin/python benchmarks/session_soak.py [--seconds 600] [--sample 10] [--idle-timeout 30]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx2

from persona_mcp.sandbox import DEFAULT_API_KEY
from persona_mcp.server.serving import free_port, serving
from persona_mcp.testing import sandbox_app

PERSONA_MCP = str(Path(sys.executable).with_name("persona-mcp"))
PROTOCOL_VERSION = "2025-06-18"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": PROTOCOL_VERSION, "capabilities": {}, "clientInfo": {"name": "soak"}},
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


@dataclass
class Tally:
    answers: Counter[str] = field(default_factory=Counter)
    probe_failures: list[str] = field(default_factory=list)
    samples: list[tuple[float, int, int, int]] = field(default_factory=list)


def _env(data_dir: Path, sandbox_url: str, idle_timeout: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PERSONA_MCP_", "PERSONA_API_"))}
    env |= {
        "PERSONA_MCP_DATA_DIR": str(data_dir),
        "PERSONA_MCP_ENVIRONMENT": "sandbox",
        "PERSONA_API_BASE_URL": f"{sandbox_url}/api/v1",
        "PERSONA_API_KEY": DEFAULT_API_KEY,
        "PERSONA_MCP_HTTP_SESSION_IDLE_TIMEOUT_SECONDS": str(idle_timeout),
    }
    return env


async def _grant(env: dict[str, str], principal: str, rate: str | None = None) -> str:
    command = [PERSONA_MCP, "grants", "create", "--principal", principal, "--env", "sandbox"]
    command += ["--scopes", "accounts:read", "--json"] + (["--rate", rate] if rate else [])
    done = await anyio.run_process(command, env=env)
    token: str = json.loads(done.stdout)["token"]
    return token


def _headers(token: str, session_id: str | None = None) -> dict[str, str]:
    headers = {**ACCEPT, "Authorization": f"Bearer {token}"}
    if session_id is not None:
        headers |= {"mcp-session-id": session_id, "mcp-protocol-version": PROTOCOL_VERSION}
    return headers


async def _open(http: httpx2.AsyncClient, url: str, token: str) -> httpx2.Response:
    return await http.post(url, json=INITIALIZE, headers=_headers(token))


async def _use_and_end(http: httpx2.AsyncClient, url: str, token: str, *, end: bool = True) -> str:
    """Open a session, call list_accounts in it, end it: 'ok' or what went wrong."""
    opened = await _open(http, url, token)
    if opened.status_code != 200:
        return f"open {opened.status_code}"
    session_id = opened.headers["mcp-session-id"]
    headers = _headers(token, session_id)
    await http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "list_accounts"}}
    called = await http.post(url, json=call, headers=headers)
    if called.status_code != 200 or '"result"' not in called.text:
        return f"call {called.status_code}"
    if end:
        await http.delete(url, headers=headers)
    return "ok"


def _rss_and_fds(pid: int) -> tuple[int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return rss_kb, len(os.listdir(f"/proc/{pid}/fd"))


async def soak(seconds: float, sample: float, idle_timeout: float, flood: int, slowloris: int) -> Tally:
    tally = Tally()
    with tempfile.TemporaryDirectory() as tmp:
        async with serving(sandbox_app("demo")) as sandbox_url:
            env = _env(Path(tmp), sandbox_url, idle_timeout)
            limited = await _grant(env, "flood-1-per-min", "1/min")
            unlimited = await _grant(env, "flood-unlimited")
            churner = await _grant(env, "churn")
            prober = await _grant(env, "probe")
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            url = f"{base}/mcp"
            command = [
                PERSONA_MCP,
                "serve",
                "--transport",
                "http",
                "--port",
                str(port),
                "--log-level",
                "WARNING",
            ]
            log = Path(tmp) / "serve.log"
            with log.open("wb") as out:
                process = await anyio.open_process(command, env=env, stdout=out, stderr=out)
                try:
                    await _wait_until_serving(base)
                    deadline = time.monotonic() + seconds
                    async with anyio.create_task_group() as tg:
                        for token in (limited, unlimited):
                            for _ in range(flood):
                                tg.start_soon(_flood, url, token, deadline, tally)
                        for index in range(4):
                            tg.start_soon(_churn, url, churner, deadline, tally, index)
                        tg.start_soon(_probe, url, prober, deadline, tally)
                        for _ in range(slowloris):
                            tg.start_soon(_slowloris, port, deadline, tally)
                        tg.start_soon(_sampler, base, process.pid, deadline, sample, tally)
                finally:
                    process.terminate()
                    with anyio.fail_after(30):
                        await process.wait()
    return tally


async def _wait_until_serving(base: str) -> None:
    with anyio.fail_after(60):
        async with httpx2.AsyncClient(timeout=2) as http:
            while True:
                try:
                    await http.get(f"{base}/healthz")
                    return
                except httpx2.TransportError:
                    await anyio.sleep(0.2)


async def _flood(url: str, token: str, deadline: float, tally: Tally) -> None:
    async with httpx2.AsyncClient(timeout=30) as http:
        while time.monotonic() < deadline:
            answer = await _open(http, url, token)
            tally.answers[f"flood {answer.status_code}"] += 1
            await anyio.sleep(0.02)


async def _churn(url: str, token: str, deadline: float, tally: Tally, index: int) -> None:
    async with httpx2.AsyncClient(timeout=30) as http:
        round_ = 0
        while time.monotonic() < deadline:
            round_ += 1
            outcome = await _use_and_end(http, url, token, end=(round_ + index) % 4 != 0)
            tally.answers[f"churn {outcome}"] += 1
            if outcome != "ok":  # the churn grant at its cap: wait for idle sessions to go
                await anyio.sleep(1)


async def _probe(url: str, token: str, deadline: float, tally: Tally) -> None:
    async with httpx2.AsyncClient(timeout=30) as http:
        while time.monotonic() < deadline:
            outcome = await _use_and_end(http, url, token)
            tally.answers[f"probe {outcome}"] += 1
            if outcome != "ok":
                tally.probe_failures.append(outcome)
            await anyio.sleep(3)


async def _slowloris(port: int, deadline: float, tally: Tally) -> None:
    while time.monotonic() < deadline:
        try:
            async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                await stream.send(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                index = 0
                while time.monotonic() < deadline:
                    await anyio.sleep(1)
                    index += 1
                    await stream.send(f"X-Slow-{index}: a\r\n".encode())
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            tally.answers["slowloris closed by server"] += 1


async def _sampler(base: str, pid: int, deadline: float, every: float, tally: Tally) -> None:
    started = time.monotonic()
    async with httpx2.AsyncClient(timeout=30) as http:
        while time.monotonic() < deadline:
            rss_kb, fds = _rss_and_fds(pid)
            health = (await http.get(f"{base}/healthz")).json()
            sessions = int(health.get("sessions", {}).get("open", -1))
            elapsed = time.monotonic() - started
            tally.samples.append((elapsed, rss_kb, fds, sessions))
            print(
                f"t={elapsed:6.0f}s rss={rss_kb / 1024:7.1f} MB fds={fds:4d} sessions={sessions:4d}",
                flush=True,
            )
            await anyio.sleep(every)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--sample", type=float, default=10)
    parser.add_argument("--idle-timeout", type=float, default=30, help="the server's session idle timeout")
    parser.add_argument("--flood", type=int, default=8, help="concurrent flooders per flooding grant")
    parser.add_argument("--slowloris", type=int, default=50)
    args = parser.parse_args()
    tally = anyio.run(soak, args.seconds, args.sample, args.idle_timeout, args.flood, args.slowloris)
    warm = [s for s in tally.samples if s[0] >= min(60.0, args.seconds / 4)] or tally.samples
    first, last = warm[0], warm[-1]
    print(f"after warm-up: first t={first[0]:.0f}s rss={first[1] / 1024:.1f} MB fds={first[2]}")
    print(f"               last  t={last[0]:.0f}s rss={last[1] / 1024:.1f} MB fds={last[2]}")
    print(
        f"               max rss={max(s[1] for s in warm) / 1024:.1f} MB max fds={max(s[2] for s in warm)} "
        f"max sessions={max(s[3] for s in warm)}"
    )
    for name, count in sorted(tally.answers.items()):
        print(f"{name}: {count}")
    print(f"probe failures: {len(tally.probe_failures)} {tally.probe_failures[:5]}")


if __name__ == "__main__":
    main()
