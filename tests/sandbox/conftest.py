"""Sandbox apps (empty and demo-seeded) with authenticated in-process clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest

from persona_mcp.sandbox import DEFAULT_API_KEY, SandboxConfig, SandboxState, create_app
from persona_mcp.sandbox.transport import SandboxTransport

AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}


@dataclass
class Sandbox:
    client: httpx2.AsyncClient
    state: SandboxState

    async def create(
        self, path: str, attributes: dict[str, Any], meta: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"data": {"attributes": attributes}}
        if meta:
            body["meta"] = meta
        response = await self.client.post(f"/api/v1{path}", json=body)
        assert response.status_code in (200, 201), response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    async def post(self, path: str, meta: dict[str, Any] | None = None) -> httpx2.Response:
        return await self.client.post(f"/api/v1{path}", json={"meta": meta} if meta else None)


async def _open(config: SandboxConfig) -> AsyncIterator[Sandbox]:
    app = create_app(config)
    async with httpx2.AsyncClient(
        transport=SandboxTransport(app), base_url="http://sandbox", headers=AUTH
    ) as client:
        yield Sandbox(client, app.state.sandbox)


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async for opened in _open(SandboxConfig()):
        yield opened


@pytest.fixture
async def demo() -> AsyncIterator[Sandbox]:
    async for opened in _open(SandboxConfig(seed="demo")):
        yield opened
