"""Fault controls: scripted and random failures, throttling, latency knobs, dropped responses, controls."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import anyio
import httpx2
import pytest
import uvicorn

from persona_mcp.sandbox import DEFAULT_API_KEY, Faults, SandboxConfig, create_app
from persona_mcp.sandbox.transport import SandboxTransport

from .conftest import AUTH, Sandbox

pytestmark = pytest.mark.anyio
BODY = {"data": {"attributes": {"reference-id": "r"}}}


async def test_fail_next_scripts_failures_then_success(sandbox: Sandbox) -> None:
    sandbox.state.faults.fail_next = [503, 429]

    statuses = [(await sandbox.client.get("/api/v1/accounts")).status_code for _ in range(3)]

    assert statuses == [503, 429, 200]
    assert sandbox.state.counters["accounts.list"] == 3


async def test_an_injected_429_carries_retry_after_and_rate_headers(sandbox: Sandbox) -> None:
    sandbox.state.faults.fail_next = [429]
    sandbox.state.faults.retry_after_seconds = 7

    response = await sandbox.client.get("/api/v1/accounts")

    assert response.headers["retry-after"] == "7"
    assert "ratelimit-reset" in response.headers
    assert response.json()["errors"][0]["title"] == "Rate limit exceeded"


async def test_injected_failures_are_not_stored_for_idempotency(sandbox: Sandbox) -> None:
    sandbox.state.faults.fail_next = [500]
    headers = {"Idempotency-Key": "retry-me"}

    failed = await sandbox.client.post("/api/v1/accounts", json=BODY, headers=headers)
    retried = await sandbox.client.post("/api/v1/accounts", json=BODY, headers=headers)

    assert (failed.status_code, retried.status_code) == (500, 201)


async def test_random_faults_follow_their_rates_reproducibly() -> None:
    async def statuses() -> list[int]:
        app = create_app(SandboxConfig(faults=Faults(rate_429=0.3, rate_5xx=0.3), rng_seed=7))
        async with httpx2.AsyncClient(
            transport=SandboxTransport(app), base_url="http://s", headers=AUTH
        ) as client:
            return [(await client.get("/api/v1/accounts")).status_code for _ in range(40)]

    first, second = await statuses(), await statuses()

    assert first == second
    assert {200, 429} <= set(first) and set(first) & {500, 502, 503}


async def test_the_rate_limit_answers_429_beyond_the_window_quota(sandbox: Sandbox) -> None:
    sandbox.state.faults.rate_limit_per_minute = 3

    responses = [await sandbox.client.get("/api/v1/accounts") for _ in range(4)]

    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert [r.headers["ratelimit-remaining"] for r in responses] == ["2", "1", "0", "0"]
    assert int(responses[-1].headers["retry-after"]) == int(responses[-1].headers["ratelimit-reset"]) > 0


async def test_a_dropped_write_is_applied_and_replayed_on_retry_in_process(sandbox: Sandbox) -> None:
    sandbox.state.faults.drop_next = 1
    headers = {"Idempotency-Key": "dropped"}

    with pytest.raises(httpx2.RemoteProtocolError):
        await sandbox.client.post("/api/v1/accounts", json=BODY, headers=headers)
    retried = await sandbox.client.post("/api/v1/accounts", json=BODY, headers=headers)

    assert retried.status_code == 201
    assert sandbox.state.created_count("account") == 1


async def test_fail_next_scripts_an_applied_then_dropped_create_followed_by_a_429(sandbox: Sandbox) -> None:
    sandbox.state.faults.fail_next = ["drop", 429, "pass"]
    headers = {"Idempotency-Key": "lost-then-limited"}

    with pytest.raises(httpx2.RemoteProtocolError):
        await sandbox.client.post("/api/v1/accounts", json=BODY, headers=headers)
    limited = await sandbox.client.post("/api/v1/accounts", json=BODY, headers=headers)
    replayed = await sandbox.client.post("/api/v1/accounts", json=BODY, headers=headers)

    assert sandbox.state.created_count("account") == 1, "the dropped request was applied, the 429 was not"
    assert limited.status_code == 429
    assert replayed.status_code == 201 and sandbox.state.faults.fail_next == []


@pytest.mark.parametrize("step", ["lost", 99, 600, True, 1.5])
def test_fail_next_refuses_steps_it_does_not_know(step: object) -> None:
    with pytest.raises(ValueError, match="fail_next"):
        Faults().update({"fail_next": [step]})


async def test_the_drop_rate_drops_a_fraction_of_responses(sandbox: Sandbox) -> None:
    sandbox.state.faults.drop_rate = 0.5
    outcomes = []
    for _ in range(20):
        try:
            outcomes.append((await sandbox.client.get("/api/v1/accounts")).status_code)
        except httpx2.RemoteProtocolError:
            outcomes.append(0)

    assert 0 in outcomes and 200 in outcomes


async def test_latency_settings_are_applied_without_failing_requests(sandbox: Sandbox) -> None:
    sandbox.state.faults.latency_ms = 1
    sandbox.state.faults.write_latency_ms = 1

    with anyio.fail_after(5):
        assert (await sandbox.client.post("/api/v1/accounts", json=BODY)).status_code == 201


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, Sandbox]]:
    app = create_app(SandboxConfig())
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="off"))
    async with anyio.create_task_group() as group:
        group.start_soon(server.serve, [sock])
        with anyio.fail_after(10):
            while not server.started:
                await anyio.sleep(0.01)
        base = f"http://127.0.0.1:{port}"
        async with httpx2.AsyncClient(base_url=base, headers=AUTH) as client:
            yield base, Sandbox(client, app.state.sandbox)
        server.should_exit = True


async def test_a_dropped_response_over_a_real_socket_is_a_connection_error(
    served: tuple[str, Sandbox],
) -> None:
    _base, sandbox = served
    sandbox.state.faults.drop_next = 1

    with pytest.raises((httpx2.RemoteProtocolError, httpx2.ReadError)):
        await sandbox.client.post("/api/v1/accounts", json=BODY, headers={"Idempotency-Key": "net"})
    retried = await sandbox.client.post("/api/v1/accounts", json=BODY, headers={"Idempotency-Key": "net"})

    assert retried.status_code == 201
    assert sandbox.state.created_count("account") == 1


async def test_http_controls_set_faults_read_counters_and_reset(served: tuple[str, Sandbox]) -> None:
    _base, sandbox = served
    client = sandbox.client
    await client.post("/api/v1/accounts", json=BODY)

    put = await client.put("/__sandbox__/faults", json={"fail_next": [502]}, headers={"Authorization": ""})
    failed = await client.get("/api/v1/accounts")
    counters = await client.get("/__sandbox__/counters")
    bad = await client.put("/__sandbox__/faults", json={"rate_429": 2})
    reset = await client.post("/__sandbox__/reset")
    faults = await client.get("/__sandbox__/faults")

    assert put.json()["fail_next"] == [502] and failed.status_code == 502
    assert counters.json() == {"accounts.create": 1, "accounts.list": 1}
    assert bad.status_code == 400
    assert reset.status_code == 204 and faults.json()["fail_next"] == []
    assert sandbox.state.created_count("account") == 0 and sandbox.state.counters == {}
    assert DEFAULT_API_KEY == "persona_sandbox_demo"
