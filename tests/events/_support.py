"""A persona-mcp HTTP app with its webhook receiver, over ASGI, and signed deliveries to send it."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from persona_mcp.audit import AuditRecord
from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.config import Environment, EventSettings, Settings
from persona_mcp.events.connect import connect_webhook
from persona_mcp.events.endpoints import EndpointSecret, EndpointStore
from persona_mcp.events.signature import signature_header
from persona_mcp.persona.client import PersonaClient
from persona_mcp.persona.credentials import ApiKeyCredential
from persona_mcp.sandbox import DEFAULT_API_KEY
from persona_mcp.sandbox.store import SandboxState
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.server.app import PersonaMcp, open_server
from persona_mcp.server.callers import StaticTokenCallers
from persona_mcp.server.run import http_app_for
from persona_mcp.testing import SANDBOX_BASE_URL, issue_grant, sandbox_app, sandbox_settings

BASE = "http://127.0.0.1:8765"
RESOURCE = f"{BASE}/mcp"  # the Host the HTTP app answers to
SECRET = "wbhsec_test-secret-0001"


@dataclass
class Receiver:
    app: PersonaMcp
    http: httpx2.AsyncClient
    endpoint_id: str
    settings: Settings
    sandbox: SandboxState

    def path(self, endpoint_id: str | None = None) -> str:
        return f"/webhooks/persona/{endpoint_id or self.endpoint_id}"

    async def deliver(
        self,
        body: bytes,
        *,
        secrets: Sequence[str] = (SECRET,),
        timestamp: int | None = None,
        header: str | None = None,
        endpoint_id: str | None = None,
    ) -> httpx2.Response:
        stamp = int(time.time()) if timestamp is None else timestamp
        signature = header if header is not None else signature_header(secrets, stamp, body)
        return await self.http.post(
            self.path(endpoint_id),
            content=body,
            headers={"content-type": "application/json", "persona-signature": signature},
        )

    async def grant(self, *scopes: str) -> None:
        """Make the in-memory MCP callers hold a fresh grant with these scopes."""
        assert isinstance(self.app.caller_source, StaticTokenCallers)
        self.app.caller_source.token = await issue_grant(self.app, scopes)

    async def receipts(self) -> list[AuditRecord]:
        records = [r async for r in iter_records(self.app.store, AuditFilter())]
        return [r for r in records if r.kind.startswith("admin.webhook.") and r.tool == "webhooks/receive"]


def event_body(
    event_id: str,
    *,
    name: str = "inquiry.completed",
    object_id: str = "inq_ReceiverTest000001",
    created_at: str = "2026-01-02T03:04:05.000Z",
    name_first: str = "Jane",
) -> bytes:
    """A Persona event object (the shape of the documented examples), personal data included."""
    document: dict[str, Any] = {
        "data": {
            "type": "event",
            "id": event_id,
            "attributes": {
                "name": name,
                "created-at": created_at,
                "payload": {
                    "data": {
                        "type": "inquiry",
                        "id": object_id,
                        "attributes": {"status": "completed", "name-first": name_first},
                    }
                },
            },
        }
    }
    return json.dumps(document).encode()


@asynccontextmanager
async def receiver(
    tmp_path: Path,
    *,
    database_url: str | None = None,
    secrets: Sequence[EndpointSecret] = (EndpointSecret(SECRET),),
    **event_settings: Any,
) -> AsyncIterator[Receiver]:
    settings = sandbox_settings(tmp_path, database_url=database_url)
    settings.events = EventSettings(**event_settings)
    # In-memory MCP callers (a test sets the token), and the HTTP app for Persona's deliveries.
    upstream = sandbox_app("demo")
    async with open_server(settings, transport="memory", persona_transport=SandboxTransport(upstream)) as app:
        endpoint_id = await app.events.endpoints.save(
            environment=Environment.SANDBOX, secrets=list(secrets), actor="test"
        )
        asgi = http_app_for(app, settings, RESOURCE)
        transport = httpx2.ASGITransport(app=asgi, client=("203.0.113.9", 44321))
        async with httpx2.AsyncClient(transport=transport, base_url=BASE) as http:
            yield Receiver(
                app=app, http=http, endpoint_id=endpoint_id, settings=settings, sandbox=upstream.state.sandbox
            )


def sandbox_persona(upstream: Any) -> PersonaClient:
    """A Persona client of the sandbox app `upstream`, with its default API key."""
    return PersonaClient(
        base_url=SANDBOX_BASE_URL,
        credentials=ApiKeyCredential(DEFAULT_API_KEY),
        transport=SandboxTransport(upstream),
    )


async def connect_sandbox_webhook(
    persona: PersonaClient, endpoints: EndpointStore, public_base_url: str, events: Sequence[str]
) -> None:
    """`webhooks connect` through `persona` (see `sandbox_persona`): the sandbox's webhook delivers
    `events` to `public_base_url`, with the secret stored in `endpoints`."""
    await connect_webhook(
        persona,
        endpoints,
        environment=Environment.SANDBOX,
        actor="test",
        public_base_url=public_base_url,
        enabled_events=list(events),
    )
