"""A demo-seeded sandbox and an authenticated in-process client for each contract test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest

from persona_mcp.sandbox import DEFAULT_API_KEY, SandboxConfig, create_app
from persona_mcp.sandbox.transport import SandboxTransport

from ._scenarios import Ctx


@pytest.fixture
async def ctx() -> AsyncIterator[Ctx]:
    app = create_app(SandboxConfig(seed="demo"))
    headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
    async with httpx2.AsyncClient(
        transport=SandboxTransport(app), base_url="http://sandbox", headers=headers
    ) as client:
        yield Ctx(client, app.state.sandbox)
