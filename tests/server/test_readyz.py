"""`/readyz`: per-replica readiness, under the same exposure rules as `/healthz` (issue 11)."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest
from _http_server import http_server

pytestmark = pytest.mark.anyio


async def test_readyz_is_200_when_the_log_can_append_and_shows_the_instance_only_to_local_callers(
    tmp_path: Path,
) -> None:
    async with http_server(tmp_path) as running, httpx2.AsyncClient() as http:
        local = await http.get(f"{running.base}/readyz")
        relayed = await http.get(f"{running.base}/readyz", headers={"X-Forwarded-For": "203.0.113.9"})

    assert local.status_code == 200
    assert local.json() == {
        "status": "ready",
        "audit": {"ok": True, "reason": None},
        "instance": running.app.instance_id,
    }
    assert relayed.status_code == 200
    assert "instance" not in relayed.json()


async def test_readyz_refuses_a_rebinding_host_and_a_foreign_origin_like_every_route(tmp_path: Path) -> None:
    async with http_server(tmp_path) as running, httpx2.AsyncClient() as http:
        host = await http.get(f"{running.base}/readyz", headers={"Host": "evil.example"})
        origin = await http.get(f"{running.base}/readyz", headers={"Origin": "http://evil.example"})

    assert host.status_code == 421
    assert origin.status_code == 403
