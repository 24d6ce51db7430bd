"""Sandbox to receiver to agent: a state change in the sandbox becomes a signed delivery, the receiver
verifies and stores it, and a client subscribed to the inquiry's events resource is told of it.

The latency (the acceptance asks for under 2 s) is measured by benchmarks/webhook_receipts.py; the test
only bounds its wait so that a lost notification fails instead of hanging.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.subscriptions import ResourceUpdated
from starlette.applications import Starlette

from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.persona.client import PersonaClient
from persona_mcp.persona.credentials import ApiKeyCredential
from persona_mcp.pii import MASK
from persona_mcp.sandbox import DEFAULT_API_KEY, SandboxConfig, create_app
from persona_mcp.sandbox.store import SandboxState
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.server.app import PersonaMcp, open_server
from persona_mcp.server.callers import StaticTokenCallers
from persona_mcp.server.run import http_app_for
from persona_mcp.server.serving import free_port, serving
from persona_mcp.testing import SANDBOX_BASE_URL, issue_grant, sandbox_settings

from ._support import connect_sandbox_webhook, sandbox_persona

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore:resources/subscribe is removed"),
]

#: Generous: only there so a lost notification fails the test rather than hanging it.
WAIT_BOUND_SECONDS = 15


@dataclass
class Stack:
    app: PersonaMcp
    upstream: Starlette
    sandbox: SandboxState
    base: str
    token: str


@asynccontextmanager
async def delivering_stack(tmp_path: Path, scopes: list[str]) -> AsyncIterator[Stack]:
    """The sandbox delivering webhooks over HTTP to a persona-mcp receiver on a loopback port."""
    upstream = create_app(
        SandboxConfig(api_keys=frozenset({DEFAULT_API_KEY}), seed="demo", deliver_webhooks=True)
    )
    sandbox: SandboxState = upstream.state.sandbox
    for record in sandbox.records.values():  # the demo's own webhook points at the internet: off
        if record.type == "webhook":
            record.attributes["status"] = "disabled"
    settings = sandbox_settings(tmp_path)
    port = free_port()
    async with open_server(settings, transport="memory", persona_transport=SandboxTransport(upstream)) as app:
        token = await issue_grant(app, scopes, no_approval=frozenset({"approve_inquiry", "decline_inquiry"}))
        assert isinstance(app.caller_source, StaticTokenCallers)
        app.caller_source.token = token
        asgi = http_app_for(app, settings, f"http://127.0.0.1:{port}/mcp")
        async with serving(asgi, port) as base:
            async with sandbox_persona(upstream) as persona:
                events = ["inquiry.approved", "inquiry.declined"]
                await connect_sandbox_webhook(persona, app.events.endpoints, base, events)
            yield Stack(app=app, upstream=upstream, sandbox=sandbox, base=base, token=token)


def completed_inquiry(sandbox: SandboxState) -> str:
    return next(
        r.id
        for r in sandbox.records.values()
        if r.type == "inquiry" and r.attributes["status"] == "completed"
    )


async def test_an_approval_in_the_sandbox_reaches_a_listening_client_as_a_resource_update(
    tmp_path: Path,
) -> None:
    scopes = ["inquiries:read", "inquiries:decide", "events:read"]
    async with delivering_stack(tmp_path, scopes) as stack, Client(stack.app.server) as client:
        inquiry = completed_inquiry(stack.sandbox)
        uri = f"persona://inquiries/{inquiry}/events"
        async with client.listen(resource_subscriptions=[uri]) as subscription:
            result = await client.call_tool("approve_inquiry", {"inquiry_id": inquiry})
            assert not result.is_error
            with anyio.fail_after(WAIT_BOUND_SECONDS):
                event = await subscription.__anext__()
        assert event == ResourceUpdated(uri=uri)

        # The receiver verified and stored it; reading the resource shows it (payload masked: no pii:read).
        read = await client.read_resource(uri)
        content = read.contents[0]
        assert isinstance(content, types.TextResourceContents)
        shown = json.loads(content.text)
        assert [e["name"] for e in shown["events"]] == ["inquiry.approved"]
        assert shown["events"][0]["payload"]["id"] == MASK
        assert "Jane" not in content.text
        stored = await stack.app.events.store.page(environment="sandbox", object_id=inquiry)
        assert [e.name for e in stored.events] == ["inquiry.approved"]
        kinds = [r.kind async for r in iter_records(stack.app.store, AuditFilter())]
        assert "admin.webhook.received" in kinds


async def test_a_handshake_era_client_subscribes_with_resources_subscribe(tmp_path: Path) -> None:
    updates: list[str] = []
    arrived = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updates.append(str(message.params.uri))
            arrived.set()

    scopes = ["inquiries:read", "inquiries:decide", "events:read"]
    async with delivering_stack(tmp_path, scopes) as stack:
        async with Client(stack.app.server, mode="legacy", message_handler=on_message) as client:
            assert client.server_capabilities.resources is not None
            assert client.server_capabilities.resources.subscribe is True
            inquiry = completed_inquiry(stack.sandbox)
            uri = f"persona://inquiries/{inquiry}/events"
            await client.subscribe_resource(uri)
            await client.call_tool("decline_inquiry", {"inquiry_id": inquiry})
            with anyio.fail_after(WAIT_BOUND_SECONDS):
                await arrived.wait()
        assert updates == [uri]


async def test_subscribing_needs_the_event_tools_grant_and_the_refusal_is_recorded(tmp_path: Path) -> None:
    async with delivering_stack(tmp_path, ["inquiries:read"]) as stack:
        async with Client(stack.app.server, mode="legacy") as client:
            inquiry = completed_inquiry(stack.sandbox)
            with pytest.raises(Exception, match="events:read"):
                await client.subscribe_resource(f"persona://inquiries/{inquiry}/events")
            with pytest.raises(Exception, match="events:read"):
                await client.read_resource(f"persona://inquiries/{inquiry}/events")
        denied = [r async for r in iter_records(stack.app.store, AuditFilter()) if r.kind == "call.denied"]
        assert [r.tool for r in denied] == ["resources/subscribe", "resources/read"]
        assert all(r.object_ids == [inquiry] for r in denied)


async def test_a_rotation_in_persona_whose_old_secret_expired_is_followed_by_the_receiver(
    tmp_path: Path,
) -> None:
    scopes = ["inquiries:read", "inquiries:decide", "events:read"]
    async with delivering_stack(tmp_path, scopes) as stack, Client(stack.app.server) as client:
        (webhook,) = [
            r
            for r in stack.sandbox.records.values()
            if r.type == "webhook" and r.attributes["status"] == "enabled"
        ]
        before = webhook.attributes["secret"]
        async with PersonaClient(
            base_url=SANDBOX_BASE_URL,
            credentials=ApiKeyCredential(DEFAULT_API_KEY),
            transport=SandboxTransport(stack.upstream),
        ) as persona:
            # Rotated with no grace period: from now on Persona signs with the new secret only.
            await persona.post(
                f"/webhooks/{webhook.id}/rotate-secret", json={"meta": {"expires-in-seconds": 0}}
            )
        assert webhook.attributes["secret"] != before
        inquiry = completed_inquiry(stack.sandbox)
        uri = f"persona://inquiries/{inquiry}/events"
        async with client.listen(resource_subscriptions=[uri]) as subscription:
            await client.call_tool("approve_inquiry", {"inquiry_id": inquiry})
            with anyio.fail_after(WAIT_BOUND_SECONDS):
                assert await subscription.__anext__() == ResourceUpdated(uri=uri)
        receipts = [
            r
            async for r in iter_records(stack.app.store, AuditFilter())
            if r.kind.startswith("admin.webhook.")
        ]
        saved = [r for r in receipts if r.kind == "admin.webhook.endpoint_saved"]
        assert [r.actor for r in saved] == ["test", "persona-webhook-rotation"]
        (received,) = [r for r in receipts if r.kind == "admin.webhook.received"]
        assert received.details is not None and received.details["secrets_refreshed"] is True
        assert before not in json.dumps([r.model_dump() for r in receipts])  # secrets never recorded


async def test_a_client_over_streamable_http_hears_the_approval_on_its_socket(tmp_path: Path) -> None:
    """The same path with the MCP client on the HTTP server's socket (streamable HTTP, bearer grant token)
    rather than in memory: the notification travels the client's own connection."""
    scopes = ["inquiries:read", "inquiries:decide", "events:read"]
    async with delivering_stack(tmp_path, scopes) as stack:
        headers = {"Authorization": f"Bearer {stack.token}"}
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            async with Client(streamable_http_client(f"{stack.base}/mcp", http_client=http)) as client:
                inquiry = completed_inquiry(stack.sandbox)
                uri = f"persona://inquiries/{inquiry}/events"
                async with client.listen(resource_subscriptions=[uri]) as subscription:
                    result = await client.call_tool("approve_inquiry", {"inquiry_id": inquiry})
                    assert not result.is_error, result
                    with anyio.fail_after(WAIT_BOUND_SECONDS):
                        assert await subscription.__anext__() == ResourceUpdated(uri=uri)
                read = await client.read_resource(uri)
        content = read.contents[0]
        assert isinstance(content, types.TextResourceContents)
        assert [e["name"] for e in json.loads(content.text)["events"]] == ["inquiry.approved"]
