"""Two replicas on one PostgreSQL behind one URL: each delivery is stored once, whichever replica got it
(and its duplicates), and subscribers on both replicas hear of every event.

The sandbox delivers 500 events through a round-robin proxy to the two replicas with its duplicate and
reorder faults at 10 % each, as Persona's at-least-once, unordered delivery would.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.shared.subscriptions import ResourceUpdated
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.sandbox import DEFAULT_API_KEY, Faults, SandboxConfig, create_app
from persona_mcp.sandbox.delivery import WebhookDeliverer
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.server.app import PersonaMcp, open_server
from persona_mcp.server.callers import StaticTokenCallers
from persona_mcp.server.run import http_app_for
from persona_mcp.server.serving import free_port, serving
from persona_mcp.testing import issue_grant, sandbox_settings

from ._support import connect_sandbox_webhook, sandbox_persona

pytestmark = [pytest.mark.anyio, pytest.mark.postgres, pytest.mark.slow]

EVENTS = 500
REPLICAS = ("replica-a", "replica-b")
WAIT_BOUND_SECONDS = 120


def round_robin(backends: list[str]) -> Starlette:
    """One URL in front of the replicas: each request goes to the next replica in turn."""
    turn = itertools.cycle(backends)
    http = httpx2.AsyncClient(timeout=10)

    async def forward(request: Request) -> Response:
        target = next(turn) + request.url.path
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        answer = await http.post(target, content=await request.body(), headers=headers)
        return Response(answer.content, status_code=answer.status_code, media_type="application/json")

    return Starlette(routes=[Route("/{path:path}", forward, methods=["POST"])])


@asynccontextmanager
async def replica(
    tmp_path: Path, name: str, database_url: str, upstream: Starlette
) -> AsyncIterator[tuple[PersonaMcp, str]]:
    settings = sandbox_settings(tmp_path / "shared", database_url=database_url)
    port = free_port()
    async with open_server(
        settings, transport="memory", persona_transport=SandboxTransport(upstream), instance_id=name
    ) as app:
        assert isinstance(app.caller_source, StaticTokenCallers)
        app.caller_source.token = await issue_grant(app, ["events:read"], principal=f"watcher-{name}")
        async with serving(http_app_for(app, settings, f"http://127.0.0.1:{port}/mcp"), port) as base:
            yield app, base


async def test_500_deliveries_with_duplicates_and_reordering_are_stored_once_and_heard_on_both_replicas(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    faults = Faults(webhook_duplicate_rate=0.1, webhook_reorder_rate=0.1, webhook_retry_scale=0.001)
    upstream = create_app(
        SandboxConfig(api_keys=frozenset({DEFAULT_API_KEY}), faults=faults, deliver_webhooks=True, rng_seed=7)
    )
    sandbox = upstream.state.sandbox
    async with AsyncExitStack() as stack:
        replicas = [
            await stack.enter_async_context(replica(tmp_path, name, postgres_schema_url, upstream))
            for name in REPLICAS
        ]
        front = await stack.enter_async_context(serving(round_robin([base for _, base in replicas])))
        async with sandbox_persona(upstream) as persona:
            await connect_sandbox_webhook(
                persona, replicas[0][0].events.endpoints, front, ["account.created"]
            )
            # The accounts the events will be about, created with delivery paused (webhook disabled)...
            (webhook,) = [r for r in sandbox.records.values() if r.type == "webhook"]
            webhook.attributes["status"] = "disabled"
            accounts = []
            for i in range(EVENTS):
                created = await persona.post(
                    "/accounts", json={"data": {"attributes": {"reference-id": f"r{i}"}}}
                )
                accounts.append(created.document.one().id)
            webhook.attributes["status"] = "enabled"

        uris = [f"persona://accounts/{account}/events" for account in accounts]
        heard: list[set[str]] = [set(), set()]
        all_heard = [anyio.Event(), anyio.Event()]

        async def listen(index: int, app: PersonaMcp, ready: anyio.Event) -> None:
            async with (
                Client(app.server) as client,
                client.listen(resource_subscriptions=uris) as subscription,
            ):
                ready.set()
                async for event in subscription:
                    assert isinstance(event, ResourceUpdated)
                    heard[index].add(event.uri)
                    if len(heard[index]) == EVENTS:
                        all_heard[index].set()
                        return

        deliverer = sandbox.deliverer
        assert isinstance(deliverer, WebhookDeliverer)
        with anyio.fail_after(WAIT_BOUND_SECONDS):
            async with anyio.create_task_group() as tg:
                for index, (app, _) in enumerate(replicas):
                    ready = anyio.Event()
                    tg.start_soon(listen, index, app, ready)
                    await ready.wait()
                # ...then one event per account, delivered with the faults on.
                for account in accounts:
                    sandbox.emit("account.created", sandbox.records[account])
                await deliverer.idle()
                for event in all_heard:
                    await event.wait()

        assert await replicas[0][0].events.store.count() == EVENTS
        attempts = deliverer.attempts
        assert all(status == 200 for _, _, status in attempts)
        duplicates = len(attempts) - EVENTS
        assert duplicates > 0  # the duplicate fault fired, and each extra copy was stored once
        delivered_order = [event_id for _, event_id, _ in attempts]
        emitted_order = [e.id for e in sandbox.events if e.attributes["name"] == "account.created"][-EVENTS:]
        assert list(dict.fromkeys(delivered_order)) != emitted_order  # some arrived out of order
        assert heard[0] == heard[1] == set(uris)
        receipts = [
            r
            async for r in iter_records(replicas[0][0].store, AuditFilter())
            if r.kind == "admin.webhook.received"
        ]
        assert len(receipts) == len(attempts)
        assert {r.instance_id for r in receipts} == set(REPLICAS)  # both replicas received deliveries
        assert sum(r.reason is not None for r in receipts) == duplicates  # each extra copy: a duplicate
