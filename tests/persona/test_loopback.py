"""The client over a real loopback socket: the sandbox served by uvicorn in a background thread.

The listening socket is bound before uvicorn starts, so connections queue in the kernel backlog and no
test has to wait for the server to come up; every call is bounded by `anyio.fail_after` instead.
"""

from __future__ import annotations

import random
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import anyio
import pytest
from starlette.applications import Starlette
from tests.credentials._support import serve_on_loopback

from persona_mcp.persona import (
    ApiKeyCredential,
    Exchange,
    PersonaClient,
    RetryPolicy,
    UpstreamUnavailableError,
)
from persona_mcp.sandbox import DEFAULT_API_KEY, SandboxConfig, SandboxState, create_app

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class LiveSandbox:
    app: Starlette
    state: SandboxState
    base_url: str


@pytest.fixture
def live_sandbox() -> Iterator[LiveSandbox]:
    app = create_app(SandboxConfig())
    with serve_on_loopback(app) as origin:
        yield LiveSandbox(app, app.state.sandbox, f"{origin}/api/v1")


@pytest.fixture
async def live_client(live_sandbox: LiveSandbox, exchanges: list[Exchange]) -> AsyncIterator[PersonaClient]:
    client = PersonaClient(
        base_url=live_sandbox.base_url,
        credentials=ApiKeyCredential(DEFAULT_API_KEY),
        timeout=5.0,
        retry=RetryPolicy(max_retries=3, budget_seconds=10.0, base_delay=0.01, max_delay=0.05),
        rng=random.Random(5),
        on_exchange=exchanges.append,
    )
    async with client:
        yield client


async def test_a_round_trip_over_a_real_socket_carries_the_pinned_headers(
    live_client: PersonaClient, live_sandbox: LiveSandbox
) -> None:
    with anyio.fail_after(10):
        created = await live_client.post(
            "/accounts", json={"data": {"attributes": {"reference-id": "sock-1"}}}
        )
        fetched = await live_client.get(f"/accounts/{created.document.one().id}")
    assert fetched.document.one().attributes["reference-id"] == "sock-1"
    assert fetched.request_id is not None


async def test_a_connection_dropped_mid_response_is_retried_and_creates_one_account(
    live_client: PersonaClient, live_sandbox: LiveSandbox, exchanges: list[Exchange]
) -> None:
    live_sandbox.state.faults.drop_next = 1
    with anyio.fail_after(10):
        created = await live_client.post(
            "/accounts", json={"data": {"attributes": {"reference-id": "sock-2"}}}
        )
    assert exchanges[0].attempts == 2
    assert live_sandbox.state.created_count("account") == 1
    assert created.document.one().attributes["reference-id"] == "sock-2"


async def test_a_read_timeout_is_retried_then_reported_as_upstream_unavailable(
    live_sandbox: LiveSandbox,
) -> None:
    live_sandbox.state.faults.latency_ms = 1000
    client = PersonaClient(
        base_url=live_sandbox.base_url,
        credentials=ApiKeyCredential(DEFAULT_API_KEY),
        timeout=0.2,
        retry=RetryPolicy(max_retries=1, budget_seconds=5.0, base_delay=0.01, max_delay=0.01),
    )
    async with client:
        with anyio.fail_after(10), pytest.raises(UpstreamUnavailableError) as caught:
            await client.get("/accounts")
    assert caught.value.attempts == 2 and caught.value.status is None
    assert caught.value.retry_safe is True


async def test_a_refused_connection_is_retried_then_reported_as_upstream_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below, so nothing listens on it
    client = PersonaClient(
        base_url=f"http://127.0.0.1:{port}/api/v1",
        credentials=ApiKeyCredential(DEFAULT_API_KEY),
        timeout=2.0,
        retry=RetryPolicy(max_retries=2, budget_seconds=5.0, base_delay=0.01, max_delay=0.01),
    )
    async with client:
        with anyio.fail_after(10), pytest.raises(UpstreamUnavailableError) as caught:
            await client.get("/accounts")
    assert caught.value.attempts == 3


@pytest.fixture
def short_keepalive_sandbox() -> Iterator[str]:
    """The sandbox on a server that closes a connection idle for 0.1 s."""
    with serve_on_loopback(create_app(SandboxConfig()), timeout_keep_alive=0.1) as origin:
        yield f"{origin}/api/v1"


async def test_a_connection_the_server_closed_while_idle_is_not_reused(
    short_keepalive_sandbox: str, exchanges: list[Exchange]
) -> None:
    """The pool asks each idle connection whether the server closed it; a closed one is dropped before
    use, so the next call goes out once on a new connection instead of failing and being retried."""
    client = PersonaClient(
        base_url=short_keepalive_sandbox,
        credentials=ApiKeyCredential(DEFAULT_API_KEY),
        timeout=5.0,
        retry=RetryPolicy(max_retries=3, budget_seconds=10.0, base_delay=0.01, max_delay=0.05),
        on_exchange=exchanges.append,
    )
    async with client:
        with anyio.fail_after(10):
            created = await client.post(
                "/accounts", json={"data": {"attributes": {"reference-id": "idle-1"}}}
            )
            await anyio.sleep(0.5)  # the server has closed the kept-alive connection meanwhile
            await client.get(f"/accounts/{created.document.one().id}")
    assert [exchange.attempts for exchange in exchanges] == [1, 1]
