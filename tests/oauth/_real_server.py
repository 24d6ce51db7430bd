"""The real `persona-mcp serve --transport http` process, its upstream the demo sandbox on a loopback port.

The data directory is prepared in process first (migrated, with a person's grant), then the command
serves it with a DEBUG log captured to a file: what the byte scans read, with the database file and the
audit exports the CLI writes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio

from e2e._cli import background, server_env, wait_until_answering
from persona_mcp.auth.grant import PrincipalKind
from persona_mcp.server.app import open_server
from persona_mcp.server.serving import free_port, serving
from persona_mcp.testing import issue_grant, sandbox_app, sandbox_settings


@dataclass
class RealServer:
    base: str
    mcp: str
    data_dir: Path
    log: Path
    grant_token: str
    env: dict[str, str]


@asynccontextmanager
async def real_server(tmp_path: Path, scopes: list[str], *, person: str) -> AsyncIterator[RealServer]:
    data_dir = tmp_path / "data"
    sandbox = sandbox_app("demo")
    async with serving(sandbox) as sandbox_url:
        settings = sandbox_settings(data_dir, base_url=f"{sandbox_url}/api/v1")
        async with open_server(settings, transport="memory") as app:
            token = await issue_grant(app, scopes, principal=person, principal_kind=PrincipalKind.PERSON)
        port = free_port()
        env = server_env(data_dir, base_url=f"{sandbox_url}/api/v1", instance_id="oauth-real")
        log = tmp_path / "server.log"
        args = ("serve", "--transport", "http", "--port", str(port), "--log-level", "DEBUG")
        async with background(*args, env=env, log=log) as process:
            base = f"http://127.0.0.1:{port}"
            await wait_until_answering(f"{base}/healthz", process)
            yield RealServer(
                base=base, mcp=f"{base}/mcp", data_dir=data_dir, log=log, grant_token=token, env=env
            )
            process.terminate()
            with anyio.fail_after(30):
                await process.wait()
