"""Running the real `persona-mcp` command in a child process, with an environment built for one test."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
from anyio.abc import Process

#: The console script installed next to the interpreter running the tests.
PERSONA_MCP = str(Path(sys.executable).with_name("persona-mcp"))

#: Variables from the test runner's environment that would change what a child process does.
_OWN_PREFIXES = ("PERSONA_MCP_", "PERSONA_API_")


def child_env(**variables: str) -> dict[str, str]:
    """The runner's environment minus any persona-mcp settings, plus `variables`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
    env.update(variables)
    return env


def server_env(
    data_dir: Path,
    *,
    base_url: str,
    instance_id: str,
    token: str | None = None,
    database_url: str | None = None,
    api_key: str = "persona_sandbox_demo",
) -> dict[str, str]:
    """What `persona-mcp serve` reads: data dir, upstream, the stdio caller's token, the audit instance."""
    variables = {
        "PERSONA_MCP_DATA_DIR": str(data_dir),
        "PERSONA_MCP_ENVIRONMENT": "sandbox",
        "PERSONA_MCP_AUDIT_INSTANCE_ID": instance_id,
        "PERSONA_API_BASE_URL": base_url,
        "PERSONA_API_KEY": api_key,
    }
    if token is not None:
        variables["PERSONA_MCP_TOKEN"] = token
    if database_url is not None:
        variables["PERSONA_MCP_DATABASE_URL"] = database_url
    return child_env(**variables)


async def run_cli(
    *args: str, env: Mapping[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    """Run one `persona-mcp` command to completion (bounded), capturing its output."""
    with anyio.fail_after(timeout):
        return await anyio.run_process([PERSONA_MCP, *args], env=dict(env), check=False)


def grant_token(output: bytes) -> str:
    """The `pmcp_...` token `persona-mcp grants create` prints once."""
    tokens = [word for word in output.decode().split() if word.startswith("pmcp_")]
    assert len(tokens) == 1, "grants create printed no single token"
    return tokens[0]


@asynccontextmanager
async def background(*args: str, env: Mapping[str, str], log: Path) -> AsyncIterator[Process]:
    """A long-running `persona-mcp` command (output to `log`), killed on exit if still running."""
    with log.open("ab") as out:
        process = await anyio.open_process([PERSONA_MCP, *args], env=dict(env), stdout=out, stderr=out)
        try:
            yield process
        finally:
            if process.returncode is None:
                process.kill()
            with anyio.fail_after(10), anyio.CancelScope(shield=True):
                await process.wait()


async def wait_until_answering(url: str, process: Process, *, timeout: float = 60) -> None:
    """Poll `url` until it answers at all (any status); fail early if the process died."""
    with anyio.fail_after(timeout):
        async with httpx2.AsyncClient(timeout=2) as http:
            while True:
                if process.returncode is not None:
                    raise AssertionError(f"process exited with {process.returncode} before serving {url}")
                try:
                    await http.get(url)
                    return
                except httpx2.TransportError:
                    await anyio.sleep(0.1)
