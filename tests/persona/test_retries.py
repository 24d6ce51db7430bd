"""Retry, backoff, idempotency and rate-limit behaviour of the client, against the scriptable fake."""

from __future__ import annotations

import random

import httpx2
import pytest

from persona_mcp.persona import (
    AuthenticationError,
    Exchange,
    NotFoundError,
    PersonaClient,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    UpstreamUnavailableError,
)
from persona_mcp.persona.retry import backoff_delay, parse_retry_after

from .conftest import BASE_URL, ClientFactory, FakePersona, Reply, ScriptedTransport, SleepRecorder

pytestmark = pytest.mark.anyio


class RefreshingCredential:
    """An OAuth-like provider: the first token is stale, a 401 makes it hand out a fresh one once."""

    def __init__(self) -> None:
        self.token = "stale"
        self.rejections: list[str] = []

    async def bearer_token(self) -> str:
        return self.token

    async def on_unauthorized(self, rejected_token: str) -> bool:
        self.rejections.append(rejected_token)
        self.token = "fresh"
        return True


async def test_a_429_with_retry_after_is_waited_out_before_the_retry(
    client: PersonaClient, fake: FakePersona, sleeper: SleepRecorder
) -> None:
    fake.then(Reply(429, {"errors": [{"title": "Rate limit exceeded"}]}, {"Retry-After": "7"}))
    response = await client.get("/accounts/act_1")
    assert response.status == 200
    assert sleeper.calls == [7.0]
    assert response.exchange.attempts == 2


async def test_a_429_without_retry_after_waits_for_the_rate_limit_reset(
    client: PersonaClient, fake: FakePersona, sleeper: SleepRecorder
) -> None:
    limits = {"RateLimit-Limit": "300", "RateLimit-Remaining": "0", "RateLimit-Reset": "12"}
    fake.then(Reply(429, {"errors": [{"title": "Rate limit exceeded"}]}, limits))
    await client.get("/accounts/act_1")
    assert sleeper.calls == [12.0]


async def test_a_503_then_success_is_retried_after_a_jittered_backoff(
    client: PersonaClient, fake: FakePersona, sleeper: SleepRecorder
) -> None:
    fake.then(Reply(503, {"errors": [{"title": "Service unavailable"}]}))
    response = await client.get("/accounts/act_1")
    assert response.document.one().id == "act_default"
    assert len(fake.seen) == 2
    assert len(sleeper.calls) == 1 and 0 <= sleeper.calls[0] <= 0.5


async def test_retries_stop_at_their_bound_with_the_attempt_count_in_the_error(
    client: PersonaClient, fake: FakePersona, sleeper: SleepRecorder, exchanges: list[Exchange]
) -> None:
    fake.then(*[Reply(502, {"errors": [{"title": "Bad gateway"}]})] * 10)
    with pytest.raises(ServerError) as caught:
        await client.get("/accounts/act_1")
    error = caught.value
    assert error.status == 502
    assert error.attempts == 4  # first try + max_retries=3
    assert "4 attempts" in str(error) and "gave up after 3 retries" in str(error)
    assert len(fake.seen) == 4 and len(sleeper.calls) == 3
    assert exchanges == [error.exchange]
    assert exchanges[0].attempts == 4 and exchanges[0].status == 502


async def test_the_backoff_ceiling_doubles_per_retry_up_to_max_delay() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0)
    rng = random.Random(1)
    for retry_number, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (9, 5.0)]:
        draws = [backoff_delay(policy, retry_number, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in draws)
        assert max(draws) > ceiling * 0.8  # full jitter spans the whole range


async def test_a_retry_after_longer_than_the_budget_fails_at_once_without_sleeping(
    make_client: ClientFactory, fake: FakePersona, sleeper: SleepRecorder
) -> None:
    client = make_client(retry=RetryPolicy(max_retries=5, budget_seconds=10.0))
    fake.then(Reply(429, {"errors": [{"title": "Quota exceeded"}]}, {"Retry-After": "30"}))
    with pytest.raises(RateLimitedError) as caught:
        await client.get("/accounts/act_1")
    assert sleeper.calls == []
    assert caught.value.retry_after == 30.0
    assert caught.value.retry_safe is True
    assert "exceed the retry budget" in str(caught.value)
    assert len(fake.seen) == 1


async def test_the_retry_budget_bounds_the_total_sleep_even_with_retries_left(
    make_client: ClientFactory, fake: FakePersona, sleeper: SleepRecorder
) -> None:
    client = make_client(retry=RetryPolicy(max_retries=10, budget_seconds=10.0))
    fake.then(*[Reply(503, headers={"Retry-After": "4"})] * 10)
    with pytest.raises(ServerError) as caught:
        await client.get("/accounts/act_1")
    assert sleeper.calls == [4.0, 4.0]  # a third 4 s wait would pass the 10 s budget
    assert caught.value.attempts == 3


async def test_a_404_is_not_retried(client: PersonaClient, fake: FakePersona, sleeper: SleepRecorder) -> None:
    fake.then(Reply(404, {"errors": [{"title": "Record not found"}]}))
    with pytest.raises(NotFoundError) as caught:
        await client.get("/accounts/act_missing")
    assert len(fake.seen) == 1 and sleeper.calls == []
    assert caught.value.attempts == 1 and caught.value.retry_safe is False


async def test_a_401_is_not_retried_with_an_api_key(client: PersonaClient, fake: FakePersona) -> None:
    fake.then(Reply(401, {"errors": [{"title": "Token is invalid"}]}))
    with pytest.raises(AuthenticationError) as caught:
        await client.get("/accounts/act_1")
    assert len(fake.seen) == 1
    assert str(caught.value).startswith("AuthenticationError: HTTP 401 Token is invalid")


async def test_a_401_gets_exactly_one_retry_when_the_credential_provider_refreshes(
    make_client: ClientFactory, fake: FakePersona
) -> None:
    credential = RefreshingCredential()
    client = make_client(credentials=credential)
    fake.then(Reply(401, {"errors": [{"title": "Token is invalid"}]}))
    await client.get("/accounts/act_1")
    assert [seen.headers["authorization"] for seen in fake.seen] == ["Bearer stale", "Bearer fresh"]

    fake.seen.clear()
    fake.then(*[Reply(401, {"errors": [{"title": "Token is invalid"}]})] * 3)
    with pytest.raises(AuthenticationError) as caught:
        await client.get("/accounts/act_1")
    assert len(fake.seen) == 2 and caught.value.attempts == 2


async def test_a_post_whose_response_is_lost_is_retried_with_the_same_idempotency_key(
    client: PersonaClient, fake: FakePersona, exchanges: list[Exchange]
) -> None:
    fake.then(Reply(drop=True))
    response = await client.post("/accounts", json={"data": {"attributes": {"reference-id": "r-1"}}})
    keys = [seen.headers["idempotency-key"] for seen in fake.seen]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert len(fake.accounts_by_key) == 1
    assert response.document.one().id == "act_fake1"
    assert exchanges[0].idempotency_key == keys[0] and exchanges[0].attempts == 2


async def test_a_post_applied_with_its_answer_lost_then_rate_limited_may_have_been_applied(
    make_client: ClientFactory, fake: FakePersona, exchanges: list[Exchange]
) -> None:
    fake.then(
        Reply(drop=True), Reply(429, {"errors": [{"title": "Rate limit exceeded"}]}, {"Retry-After": "10"})
    )
    client = make_client(retry=RetryPolicy(max_retries=1))
    with pytest.raises(RateLimitedError) as caught:
        await client.post("/accounts", json={"data": {"attributes": {"reference-id": "r-1"}}})
    assert len(fake.accounts_by_key) == 1, "attempt 1 created the account"
    assert caught.value.status == 429 and caught.value.attempts == 2
    assert caught.value.maybe_applied is True and caught.value.retry_safe is False
    assert exchanges[0].maybe_applied is True


async def test_a_post_that_never_got_a_connection_was_not_applied_and_is_safe_to_repeat(
    make_client: ClientFactory, exchanges: list[Exchange]
) -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectTimeout("no connection", request=request)

    client = make_client(transport=httpx2.MockTransport(refuse), retry=RetryPolicy(max_retries=2))
    with pytest.raises(UpstreamUnavailableError) as caught:
        await client.post("/accounts", json={})
    assert caught.value.attempts == 3
    assert caught.value.maybe_applied is False and caught.value.retry_safe is True
    assert exchanges[0].maybe_applied is False


async def test_each_logical_post_gets_its_own_idempotency_key_unless_the_caller_passes_one(
    client: PersonaClient, fake: FakePersona
) -> None:
    await client.post("/accounts", json={})
    await client.post("/accounts", json={})
    await client.post("/accounts", json={}, idempotency_key="caller-key-1")
    keys = [seen.headers["idempotency-key"] for seen in fake.seen]
    assert len(set(keys[:2])) == 2 and keys[2] == "caller-key-1"
    assert len(fake.accounts_by_key) == 3


async def test_get_and_delete_carry_no_idempotency_key(client: PersonaClient, fake: FakePersona) -> None:
    await client.get("/accounts/act_1")
    await client.delete("/accounts/act_1")
    assert all("idempotency-key" not in seen.headers for seen in fake.seen)


async def test_connection_errors_exhaust_into_upstream_unavailable_with_the_attempt_count(
    make_client: ClientFactory, sleeper: SleepRecorder, exchanges: list[Exchange]
) -> None:
    attempts: list[httpx2.Request] = []

    def refuse(request: httpx2.Request) -> httpx2.Response:
        attempts.append(request)
        raise httpx2.ConnectError("connection refused", request=request)

    client = make_client(transport=httpx2.MockTransport(refuse))
    with pytest.raises(UpstreamUnavailableError) as caught:
        await client.get("/accounts/act_1")
    assert len(attempts) == 4 and caught.value.attempts == 4
    assert caught.value.status is None and caught.value.retry_safe is True
    assert exchanges[0].status is None and exchanges[0].attempts == 4


async def test_an_unknown_outcome_of_a_post_is_not_marked_safe_to_repeat(make_client: ClientFactory) -> None:
    def time_out(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("timed out", request=request)

    client = make_client(transport=httpx2.MockTransport(time_out), retry=RetryPolicy(max_retries=1))
    with pytest.raises(UpstreamUnavailableError) as caught:
        await client.post("/accounts", json={})
    assert caught.value.retry_safe is False and caught.value.maybe_applied is True
    assert caught.value.idempotency_key is not None


async def test_an_exhausted_rate_limit_window_holds_the_next_call_until_the_reset(
    make_client: ClientFactory, fake: FakePersona, sleeper: SleepRecorder
) -> None:
    client = make_client()
    fake.then(
        Reply(
            200,
            {"data": {"type": "account", "id": "act_1"}},
            {"RateLimit-Limit": "300", "RateLimit-Remaining": "0", "RateLimit-Reset": "9"},
        )
    )
    await client.get("/accounts/act_1")
    assert sleeper.calls == []
    await client.get("/accounts/act_1")
    assert sleeper.calls == [pytest.approx(9.0, abs=0.5)]


async def test_the_rate_gate_is_shared_by_bound_copies_of_a_client(
    client: PersonaClient, fake: FakePersona, sleeper: SleepRecorder
) -> None:
    fake.then(
        Reply(
            200,
            {"data": {"type": "account", "id": "act_1"}},
            {"RateLimit-Limit": "300", "RateLimit-Remaining": "0", "RateLimit-Reset": "5"},
        )
    )
    await client.get("/accounts/act_1")
    await client.bind().get("/accounts/act_1")
    assert sleeper.calls == [pytest.approx(5.0, abs=0.5)]


async def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-1") is None
    assert parse_retry_after(None) is None


async def test_the_injected_sleep_is_what_waits(fake: FakePersona) -> None:
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    fake.then(Reply(500, {"errors": []}))
    client = PersonaClient(
        base_url=BASE_URL,
        credentials=RefreshingCredential(),
        transport=ScriptedTransport(fake),
        sleep=sleep,
        rng=random.Random(0),
    )
    async with client:
        await client.get("/accounts/act_1")
    assert len(waited) == 1
