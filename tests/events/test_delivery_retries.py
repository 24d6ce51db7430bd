"""The sandbox retries a delivery the receiver did not take, as Persona does, and the receiver stores the
event once however often it arrives.

Three failures of the first attempt, each over a real loopback socket: the receiver's port is not
listening yet (connection refused); a proxy in front of it answers 500 without passing the delivery on;
the proxy passes it on (the receiver stores it) and the answer is lost (500 instead of 200), so the
retry is a duplicate. In each case a later attempt succeeds, the event is stored once, and a client
subscribed to the inquiry hears of it. Retry delays are Persona's scaled down (`webhook_retry_scale`);
the waits are bounded only so that a lost delivery fails the test instead of hanging it.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.subscriptions import ResourceUpdated

from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.sandbox import DEFAULT_API_KEY, SandboxConfig, create_app
from persona_mcp.sandbox.faults import Faults
from persona_mcp.sandbox.store import SandboxState
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.server.app import open_server
from persona_mcp.server.callers import StaticTokenCallers
from persona_mcp.server.run import http_app_for
from persona_mcp.server.serving import free_port, serving
from persona_mcp.testing import issue_grant, sandbox_settings

from ._support import connect_sandbox_webhook, sandbox_persona

pytestmark = pytest.mark.anyio

#: Persona's first retry comes 3 s after a failure; scaled to 0.3 s (the next one 6.4 s later).
RETRY_SCALE = 0.1
#: Generous: only there so a lost delivery fails the test rather than hanging it.
WAIT_BOUND_SECONDS = 30

Scope = dict[str, Any]


class FailFirstDelivery:
    """An ASGI proxy in front of the receiver that spoils the first webhook delivery only.

    `refused`: answers 500 and never passes it on. `answer_lost`: passes it on (the receiver verifies
    and stores it) and turns the answer into a 500, as a proxy timing out would.
    """

    def __init__(self, app: Any, failure: str) -> None:
        self.app = app
        self.failure = failure
        self.deliveries = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/webhooks/persona/"):
            await self.app(scope, receive, send)
            return
        self.deliveries += 1
        if self.deliveries > 1:
            await self.app(scope, receive, send)
        elif self.failure == "refused":
            await send({"type": "http.response.start", "status": 500, "headers": []})
            await send({"type": "http.response.body", "body": b""})
        else:

            async def lose_the_answer(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "status": 500}
                await send(message)

            await self.app(scope, receive, lose_the_answer)


def completed_inquiry(sandbox: SandboxState) -> str:
    return next(
        r.id
        for r in sandbox.records.values()
        if r.type == "inquiry" and r.attributes["status"] == "completed"
    )


@pytest.mark.parametrize("failure", ["unreachable", "refused", "answer_lost"])
async def test_a_failed_delivery_is_retried_and_the_event_stored_once(
    tmp_path: Path, database_url: str, failure: str
) -> None:
    upstream = create_app(
        SandboxConfig(
            api_keys=frozenset({DEFAULT_API_KEY}),
            seed="demo",
            deliver_webhooks=True,
            faults=Faults(webhook_retry_scale=RETRY_SCALE),
        )
    )
    sandbox: SandboxState = upstream.state.sandbox
    for record in sandbox.records.values():  # the demo's own webhook points at the internet: off
        if record.type == "webhook":
            record.attributes["status"] = "disabled"
    settings = sandbox_settings(tmp_path, database_url=database_url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with open_server(settings, transport="memory", persona_transport=SandboxTransport(upstream)) as app:
        scopes = ["inquiries:read", "inquiries:decide", "events:read"]
        token = await issue_grant(app, scopes, no_approval=frozenset({"approve_inquiry"}))
        assert isinstance(app.caller_source, StaticTokenCallers)
        app.caller_source.token = token
        asgi = http_app_for(app, settings, f"{base}/mcp")
        front = asgi if failure == "unreachable" else FailFirstDelivery(asgi, failure)
        async with sandbox_persona(upstream) as persona:
            await connect_sandbox_webhook(persona, app.events.endpoints, base, ["inquiry.approved"])
        deliverer = sandbox.deliverer
        assert deliverer is not None
        inquiry = completed_inquiry(sandbox)
        uri = f"persona://inquiries/{inquiry}/events"
        async with Client(app.server) as client, client.listen(resource_subscriptions=[uri]) as subscription:
            async with AsyncExitStack() as listening:
                if failure != "unreachable":
                    await listening.enter_async_context(serving(front, port))
                result = await client.call_tool("approve_inquiry", {"inquiry_id": inquiry})
                assert not result.is_error, result
                if failure == "unreachable":  # nothing listens until the first attempt has failed
                    with anyio.fail_after(WAIT_BOUND_SECONDS):
                        while not deliverer.attempts:
                            await anyio.sleep(0.01)
                    await listening.enter_async_context(serving(front, port))
                with anyio.fail_after(WAIT_BOUND_SECONDS):
                    assert await subscription.__anext__() == ResourceUpdated(uri=uri)
                    await deliverer.idle()

        statuses = [status for _webhook, _event, status in deliverer.attempts]
        assert statuses[-1] == 200 and 200 not in statuses[:-1], statuses
        assert statuses[0] == (None if failure == "unreachable" else 500)
        if failure == "unreachable":
            assert set(statuses[:-1]) == {None}  # refused connections until the port listened
        else:
            assert statuses == [500, 200]
        assert len({event for _webhook, event, _status in deliverer.attempts}) == 1, "one event, retried"

        stored = await app.events.store.page(environment="sandbox", object_id=inquiry)
        assert [e.name for e in stored.events] == ["inquiry.approved"]
        assert await app.events.store.count() == 1
        receipts = [
            r
            async for r in iter_records(app.store, AuditFilter())
            if r.kind.startswith("admin.webhook.") and r.tool == "webhooks/receive"
        ]
        reasons = [r.reason for r in receipts]
        if failure == "answer_lost":  # the receiver took both: the retry was a duplicate
            assert reasons == [None, "duplicate delivery (already stored)"]
        else:
            assert reasons == [None]
        assert {r.kind for r in receipts} == {"admin.webhook.received"}
