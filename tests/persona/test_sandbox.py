"""The client against the real sandbox, in process over ASGI (accounts), with the sandbox's own faults."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette

from persona_mcp.persona import (
    ApiKeyCredential,
    AuthenticationError,
    Exchange,
    InvalidIdError,
    NotFoundError,
    ObjectKind,
    PersonaClient,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    UnprocessableEntityError,
    UnsafePathError,
    validate_id,
)
from persona_mcp.sandbox import DEFAULT_API_KEY, SandboxConfig, SandboxState, create_app
from persona_mcp.sandbox.transport import SandboxTransport

from .conftest import SleepRecorder

pytestmark = pytest.mark.anyio

SANDBOX_URL = "http://sandbox.test/api/v1"


@pytest.fixture
def sandbox() -> Starlette:
    return create_app(SandboxConfig())


@pytest.fixture
def state(sandbox: Starlette) -> SandboxState:
    sandbox_state: SandboxState = sandbox.state.sandbox
    return sandbox_state


@pytest.fixture
async def persona(
    sandbox: Starlette, sleeper: SleepRecorder, exchanges: list[Exchange]
) -> AsyncIterator[PersonaClient]:
    client = PersonaClient(
        base_url=SANDBOX_URL,
        credentials=ApiKeyCredential(DEFAULT_API_KEY),
        transport=SandboxTransport(sandbox),
        retry=RetryPolicy(max_retries=3, budget_seconds=30.0),
        sleep=sleeper,
        clock=sleeper.now,
        rng=random.Random(3),
        on_exchange=exchanges.append,
    )
    async with client:
        yield client


def _new_account(reference: str, **attributes: Any) -> dict[str, Any]:
    return {"data": {"attributes": {"reference-id": reference, **attributes}}}


def _requests(state: SandboxState) -> int:
    return sum(state.counters.values())


async def test_accounts_can_be_created_read_and_listed(persona: PersonaClient, state: SandboxState) -> None:
    created = (await persona.post("/accounts", json=_new_account("ref-1"))).document.one()
    account_id = validate_id(ObjectKind.ACCOUNT, created.id)
    fetched = await persona.get(f"/accounts/{account_id}")
    assert fetched.document.one().attributes["reference-id"] == "ref-1"
    assert fetched.request_id is not None and fetched.request_id.startswith("req_")
    listed = await persona.get("/accounts")
    assert [r.id for r in listed.document.many()] == [account_id]


async def test_a_429_with_retry_after_from_the_sandbox_is_waited_out(
    persona: PersonaClient, state: SandboxState, sleeper: SleepRecorder
) -> None:
    state.faults.retry_after_seconds = 3
    state.faults.fail_next = [429]
    response = await persona.get("/accounts")
    assert response.status == 200
    assert sleeper.calls == [3.0]
    assert response.exchange.attempts == 2


async def test_a_503_then_success_is_retried(
    persona: PersonaClient, state: SandboxState, sleeper: SleepRecorder
) -> None:
    state.faults.fail_next = [503]
    response = await persona.get("/accounts")
    assert response.status == 200 and response.exchange.attempts == 2
    assert len(sleeper.calls) == 1


async def test_a_post_whose_response_is_dropped_creates_exactly_one_account(
    persona: PersonaClient, state: SandboxState, exchanges: list[Exchange]
) -> None:
    state.faults.drop_next = 1
    created = (await persona.post("/accounts", json=_new_account("ref-drop"))).document.one()
    assert exchanges[0].attempts == 2 and exchanges[0].idempotency_key is not None
    assert state.created_count("account") == 1
    accounts = [r async for r in persona.paginate("/accounts")]
    assert [a.id for a in accounts] == [created.id]


async def test_retries_against_the_sandbox_stop_at_their_bound(
    persona: PersonaClient, state: SandboxState, sleeper: SleepRecorder
) -> None:
    state.faults.fail_next = [500] * 10
    with pytest.raises(ServerError) as caught:
        await persona.get("/accounts")
    assert caught.value.attempts == 4 and "4 attempts" in str(caught.value)
    assert _requests(state) == 4 and len(sleeper.calls) == 3
    assert caught.value.request_id is not None


async def test_a_422_from_the_sandbox_surfaces_the_field_pointer(
    persona: PersonaClient, state: SandboxState
) -> None:
    with pytest.raises(UnprocessableEntityError) as caught:
        await persona.post("/accounts", json=_new_account("ref-bad", **{"email-address": "not-an-email"}))
    assert caught.value.field_pointers == ["/data/attributes/email-address"]
    assert "not-an-email" not in str(caught.value)
    assert _requests(state) == 1 and state.created_count("account") == 0


async def test_a_404_from_the_sandbox_is_not_retried(persona: PersonaClient, state: SandboxState) -> None:
    with pytest.raises(NotFoundError) as caught:
        await persona.get("/accounts/act_DoesNotExist000")
    assert caught.value.attempts == 1 and _requests(state) == 1


async def test_a_wrong_api_key_gets_one_401_and_no_retry(sandbox: Starlette, state: SandboxState) -> None:
    client = PersonaClient(
        base_url=SANDBOX_URL,
        credentials=ApiKeyCredential("persona_sandbox_wrong"),
        transport=SandboxTransport(sandbox),
    )
    async with client:
        with pytest.raises(AuthenticationError) as caught:
            await client.get("/accounts")
    assert caught.value.attempts == 1 and _requests(state) == 1
    assert "persona_sandbox_wrong" not in str(caught.value)


@pytest.mark.parametrize(
    "bad_id", ["act_1/../../webhooks", "act_1/x", "act 1", "inq_abc", "../act_1", "act_%2F"]
)
async def test_an_id_with_a_separator_dots_whitespace_or_the_wrong_prefix_never_reaches_the_sandbox(
    persona: PersonaClient, state: SandboxState, bad_id: str
) -> None:
    with pytest.raises(InvalidIdError):
        await persona.get(f"/accounts/{validate_id(ObjectKind.ACCOUNT, bad_id)}")
    assert _requests(state) == 0


@pytest.mark.parametrize("bad_path", ["/accounts/act_1/../../webhooks", "/accounts/act 1", "/accounts//x"])
async def test_an_unsafe_path_never_reaches_the_sandbox(
    persona: PersonaClient, state: SandboxState, bad_path: str
) -> None:
    with pytest.raises(UnsafePathError):
        await persona.get(bad_path)
    assert _requests(state) == 0


async def test_pagination_over_the_sandbox_crosses_pages_and_stops_at_the_cap(
    persona: PersonaClient, state: SandboxState
) -> None:
    for n in range(25):
        await persona.post("/accounts", json=_new_account(f"ref-{n}"))
    everything = [r.attributes["reference-id"] async for r in persona.paginate("/accounts", page_size=10)]
    assert everything == [f"ref-{n}" for n in reversed(range(25))]  # newest first
    state.counters.clear()
    capped = [r async for r in persona.paginate("/accounts", page_size=10, max_items=12)]
    assert len(capped) == 12 and _requests(state) == 2


async def test_an_exhausted_sandbox_window_fails_fast_when_the_reset_exceeds_the_budget(
    persona: PersonaClient, state: SandboxState, sleeper: SleepRecorder
) -> None:
    state.faults.rate_limit_per_minute = 2
    await persona.get("/accounts")
    await persona.get("/accounts")  # this answer reports RateLimit-Remaining: 0, reset ~60 s
    with pytest.raises(RateLimitedError) as caught:
        await persona.get("/accounts")
    assert caught.value.attempts == 0 and caught.value.retry_after is not None
    assert _requests(state) == 2 and sleeper.calls == []


async def test_an_exhausted_sandbox_window_is_waited_out_in_real_time(
    sandbox: Starlette, state: SandboxState
) -> None:
    state.faults.rate_limit_per_minute = 1
    state.faults.rate_limit_window_seconds = 1.0
    client = PersonaClient(
        base_url=SANDBOX_URL,
        credentials=ApiKeyCredential(DEFAULT_API_KEY),
        transport=SandboxTransport(sandbox),
        retry=RetryPolicy(max_retries=2, budget_seconds=10.0),
    )
    async with client:
        with anyio.fail_after(8):
            await client.get("/accounts")
            second = await client.get("/accounts")  # held by the gate until the window resets
    assert second.exchange.attempts == 1  # waited before sending instead of collecting a 429
    assert _requests(state) == 2
