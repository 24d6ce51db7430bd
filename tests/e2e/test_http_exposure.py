"""Issue 11, case 4, as deployed: `persona-mcp serve` bound to 0.0.0.0 as the Dockerfile runs it."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from persona_mcp.server.serving import free_port

from ._cli import background, server_env, wait_until_answering

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_serve_on_all_addresses_refuses_foreign_hosts_and_takes_allowed_hosts_from_options(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = server_env(tmp_path, base_url="http://127.0.0.1:9/api/v1", instance_id="exposure")
    args = ["serve", "--transport", "http", "--host", "0.0.0.0", "--port", str(port)]
    args += ["--public-url", "https://mcp.example.com/mcp", "--allowed-host", "proxy.internal:8443"]
    base = f"http://127.0.0.1:{port}"
    async with background(*args, env=env, log=tmp_path / "serve.log") as process:
        await wait_until_answering(f"{base}/healthz", process)
        async with httpx2.AsyncClient(base_url=base, timeout=10) as http:
            assert (await http.get("/healthz", headers={"Host": "evil.com"})).status_code == 421
            assert (await http.get("/healthz", headers={"Origin": "http://evil.com"})).status_code == 403
            assert (await http.get("/healthz", headers={"Host": "proxy.internal:8443"})).status_code == 200
            assert (await http.get("/healthz")).status_code == 200, "loopback is always served"
