"""`persona-mcp webhooks connect` creates the Persona webhook through the API and stores its secret
encrypted; run again after a rotation, it stores the new secret beside the old one (until its expiry)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import anyio
import httpx2
import pytest

from persona_mcp.auth.credentials.secretbox import load_secret_box
from persona_mcp.events.endpoints import EndpointStore
from persona_mcp.sandbox import DEFAULT_API_KEY
from persona_mcp.server.serving import serving
from persona_mcp.store import create_store
from persona_mcp.store.schema.events import webhook_endpoints
from persona_mcp.testing import sandbox_app

PERSONA_MCP = str(Path(sys.executable).with_name("persona-mcp"))


def cli_env(data_dir: Path, base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PERSONA_MCP_", "PERSONA_API_"))}
    return env | {
        "PERSONA_MCP_DATA_DIR": str(data_dir),
        "PERSONA_API_BASE_URL": base_url,
        "PERSONA_API_KEY": DEFAULT_API_KEY,
        "PERSONA_MCP_ENVIRONMENT": "sandbox",
    }


async def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    with anyio.fail_after(60):
        return await anyio.run_process([PERSONA_MCP, *args], env=env, check=False)


pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_connect_creates_enables_and_stores_then_follows_a_rotation(tmp_path: Path) -> None:
    upstream = sandbox_app(None)
    sandbox = upstream.state.sandbox
    async with serving(upstream) as sandbox_url:
        env = cli_env(tmp_path, f"{sandbox_url}/api/v1")
        done = await run_cli(
            "webhooks", "connect", "--env", "sandbox", "--url", "https://mcp.example.com", env=env
        )
        out = done.stdout.decode()
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        match = re.search(r"created and enabled webhook (wbh_\w+) -> endpoint (whe_[0-9a-f]+)", out)
        assert match is not None, out
        webhook_id, endpoint_id = match.groups()
        webhook = sandbox.records[webhook_id]
        assert webhook.attributes["status"] == "enabled"
        assert webhook.attributes["url"] == f"https://mcp.example.com/webhooks/persona/{endpoint_id}"
        first_secret = webhook.attributes["secret"]

        store = create_store(f"sqlite+aiosqlite:///{tmp_path / 'persona-mcp.sqlite3'}")
        try:
            endpoints = EndpointStore(store, load_secret_box(None, tmp_path))
            saved = await endpoints.get(endpoint_id, fresh=True)
            assert saved is not None and [s.value for s in saved.secrets] == [first_secret]
            async with store.engine.connect() as conn:
                (row,) = (await conn.execute(webhook_endpoints.select())).all()
            assert first_secret.encode() not in row.secrets  # sealed at rest

            # Persona rotates the secret (the old one stays valid for an hour): connect follows it.
            async with httpx2.AsyncClient(base_url=sandbox_url) as http:
                rotated = await http.post(
                    f"/api/v1/webhooks/{webhook_id}/rotate-secret",
                    json={"meta": {"expires-in-seconds": 3600}},
                    headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"},
                )
                assert rotated.status_code == 200, rotated.text
            again = await run_cli(
                "webhooks", "connect", "--env", "sandbox", "--webhook-id", webhook_id, env=env
            )
            assert again.returncode == 0, again.stderr.decode()[-2000:]
            assert f"registered webhook {webhook_id} -> endpoint {endpoint_id}" in again.stdout.decode()
            saved = await endpoints.get(endpoint_id, fresh=True)
            assert saved is not None
            now = datetime.now(UTC)
            assert saved.valid_secrets(now) == [webhook.attributes["secret"], first_secret]
            old = saved.secrets[1]
            assert old.expires_at is not None and old.expires_at > now
        finally:
            await store.close()
