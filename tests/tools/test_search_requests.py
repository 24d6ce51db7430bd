"""What a search tool puts on the wire (the handler's docstring describes exactly this)."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from persona_mcp.persona.client import PersonaClient, RetryPolicy
from persona_mcp.persona.credentials import ApiKeyCredential
from persona_mcp.tools import catalogue
from persona_mcp.tools.spec import ToolContext

pytestmark = pytest.mark.anyio


async def test_search_is_a_post_that_carries_the_clients_idempotency_key(tmp_path: Path) -> None:
    sent: list[httpx2.Request] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return httpx2.Response(200, json={"data": [], "links": {"next": None}})

    persona = PersonaClient(
        base_url="http://persona/api/v1",
        credentials=ApiKeyCredential("persona_sandbox_test"),
        transport=httpx2.MockTransport(answer),
        retry=RetryPolicy(max_retries=0),
    )
    spec = catalogue.get("search_accounts")
    args = spec.input_model.model_validate({"conditions": [{"attribute": "status", "value": "active"}]})
    async with persona:
        ctx = ToolContext(persona=persona, idempotency_key=None, data_dir=tmp_path)
        await spec.handler(ctx, args)
    assert [r.method for r in sent] == ["POST"]
    assert sent[0].headers.get("idempotency-key")
