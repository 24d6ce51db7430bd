"""Upstream pacing (issue 11, case 1): the rate gate follows what Persona says and never runs away.

The client tests run on the scriptable fake with a fake clock that moves only when the client sleeps (or
when a test moves it), so a window of a minute passes at once. Every wait a caller is refused with is a
hint to the agent: it must never be longer than Persona's window.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from persona_mcp.persona import (
    RateGate,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    UpstreamUnavailableError,
)
from persona_mcp.persona.ratelimit import LocalLedger, WindowState, admit, current
from persona_mcp.persona.retry import RateLimitInfo

from .conftest import ClientFactory, FakePersona, Reply, SleepRecorder, account

pytestmark = pytest.mark.anyio


def _limits(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(limit),
        "RateLimit-Remaining": str(remaining),
        "RateLimit-Reset": str(reset),
    }


def _ok(limit: int, remaining: int, reset: int) -> Reply:
    return Reply(200, {"data": account("act_1")}, _limits(limit, remaining, reset))


async def test_callers_refused_near_the_end_of_a_window_leave_the_next_window_untouched(
    make_client: ClientFactory, fake: FakePersona, sleeper: SleepRecorder
) -> None:
    """The issue's reproduction: refused calls pushed the gate's next slot forward for ever."""
    client = make_client(retry=RetryPolicy(max_retries=2, budget_seconds=1.0))
    fake.then(_ok(120, 10, 60))  # under 15 % left: the rest of the window is spread, one call per 6 s
    await client.get("/accounts/act_1")

    hints = []
    for _ in range(200):
        try:
            await client.get("/accounts/act_1")
        except RateLimitedError as refused:
            assert refused.attempts == 0
            hints.append(refused.retry_after)
    assert len(hints) >= 199 and max(h or 0 for h in hints) <= 6.0 + 1e-9

    sleeper.advance(61.0)  # the window resets; nothing was sent in the meantime
    sent_before = len(fake.seen)
    response = await client.get("/accounts/act_1")
    assert response.exchange.attempts == 1 and sleeper.calls == []
    assert len(fake.seen) == sent_before + 1


async def test_under_fifteen_percent_remaining_the_rest_of_the_window_is_spread_evenly() -> None:
    now = [100.0]
    gate = RateGate(LocalLedger(lambda: now[0]))
    first = await gate.admit()
    assert first.permit is not None
    first.permit.answered(RateLimitInfo(limit=100, remaining=10, reset=30))

    go = await gate.admit()
    assert go.wait == 0 and go.permit is not None  # 10 left over 30 s: one every 3 s
    for _ in range(5):  # asking again and again reserves nothing
        assert (await gate.admit()).wait == pytest.approx(3.0)
    now[0] += 3.0
    assert (await gate.admit()).wait == 0


async def test_persona_s_remaining_count_overrides_the_gate_s_own(
    make_client: ClientFactory, fake: FakePersona, sleeper: SleepRecorder
) -> None:
    """Another consumer of the environment spent the window: Persona says so, and the gate holds."""
    client = make_client(retry=RetryPolicy(max_retries=2, budget_seconds=5.0))
    fake.then(_ok(300, 299, 40), _ok(300, 0, 39))
    await client.get("/accounts/act_1")
    await client.get("/accounts/act_1")
    with pytest.raises(RateLimitedError) as refused:
        await client.get("/accounts/act_1")
    assert refused.value.attempts == 0 and len(fake.seen) == 2
    assert refused.value.retry_after is not None and 39.0 <= refused.value.retry_after <= 40.0


async def test_a_fresh_window_in_persona_s_answer_lifts_the_hold_at_once(
    make_client: ClientFactory, fake: FakePersona, sleeper: SleepRecorder
) -> None:
    client = make_client()
    fake.then(_ok(300, 0, 20), _ok(300, 299, 60))
    await client.get("/accounts/act_1")
    sleeper.advance(20.0)
    await client.get("/accounts/act_1")  # answered from a new window with the budget full again
    await client.get("/accounts/act_1")
    assert sleeper.calls == [] and len(fake.seen) == 3


async def test_the_gate_recovers_by_itself_when_the_window_ends(
    make_client: ClientFactory, fake: FakePersona, sleeper: SleepRecorder
) -> None:
    client = make_client(retry=RetryPolicy(max_retries=2, budget_seconds=1.0))
    fake.then(_ok(120, 0, 45))
    await client.get("/accounts/act_1")
    for _ in range(50):
        with pytest.raises(RateLimitedError):
            await client.get("/accounts/act_1")
    sleeper.advance(45.0)
    assert (await client.get("/accounts/act_1")).exchange.attempts == 1
    assert len(fake.seen) == 2


async def test_no_wait_hint_is_longer_than_the_window_even_when_persona_asks_for_more(
    make_client: ClientFactory, fake: FakePersona
) -> None:
    client = make_client(retry=RetryPolicy(max_retries=3, budget_seconds=5.0))
    throttled = {**_limits(120, 0, 60), "Retry-After": "3600"}
    fake.then(_ok(120, 119, 60), Reply(429, {"errors": [{"title": "Rate limit exceeded"}]}, throttled))
    await client.get("/accounts/act_1")
    with pytest.raises(RateLimitedError) as caught:
        await client.get("/accounts/act_1")
    assert caught.value.retry_after == pytest.approx(60.0)
    with pytest.raises(RateLimitedError) as held:
        await client.get("/accounts/act_1")
    assert held.value.attempts == 0 and held.value.retry_after is not None
    assert held.value.retry_after <= 60.0


async def test_a_permit_of_a_call_that_fails_before_sending_is_given_back(
    make_client: ClientFactory, fake: FakePersona, sleeper: SleepRecorder
) -> None:
    class Broken:
        async def bearer_token(self) -> str:
            raise RuntimeError("the credential store is down")

        async def on_unauthorized(self, rejected_token: str) -> bool:
            return False

    client = make_client(retry=RetryPolicy(max_retries=2, budget_seconds=1.0))
    fake.then(_ok(120, 1, 50))  # one request left in this window
    await client.get("/accounts/act_1")
    for _ in range(3):
        with pytest.raises(RuntimeError):
            await client.bind(credentials=Broken()).get("/accounts/act_1")
    assert (await client.get("/accounts/act_1")).exchange.attempts == 1  # the last one is still there
    assert sleeper.calls == []


async def test_a_request_whose_answer_was_lost_counts_as_spent(
    make_client: ClientFactory, fake: FakePersona, sleeper: SleepRecorder
) -> None:
    unpaced = RateGate(LocalLedger(sleeper.now), slow_down_below=0.0)
    client = make_client(retry=RetryPolicy(max_retries=0, budget_seconds=1.0), rate_gate=unpaced)
    fake.then(_ok(120, 2, 50), Reply(drop=True))
    await client.get("/accounts/act_1")
    with pytest.raises(UpstreamUnavailableError):
        await client.get("/accounts/act_1")  # Persona counted it, though no answer came back
    await client.get("/accounts/act_1")  # the last one
    with pytest.raises(RateLimitedError):
        await client.get("/accounts/act_1")
    assert len(fake.seen) == 3


async def test_each_environment_spends_its_own_budget(
    make_client: ClientFactory, fake: FakePersona, sleeper: SleepRecorder
) -> None:
    client = make_client(retry=RetryPolicy(max_retries=2, budget_seconds=1.0))
    sandbox, production = client.bind(rate_budget="sandbox"), client.bind(rate_budget="production")
    fake.then(_ok(120, 0, 30))
    await sandbox.get("/accounts/act_1")
    with pytest.raises(RateLimitedError):
        await sandbox.get("/accounts/act_1")
    assert (await production.get("/accounts/act_1")).exchange.attempts == 1


async def test_a_gate_answers_every_caller_without_a_queue(sleeper: SleepRecorder) -> None:
    """Many askers while the window is spent: all hear the same bounded wait, none is pushed back."""
    gate = RateGate(LocalLedger(sleeper.now))
    probe = await gate.admit("b")
    assert probe.permit is not None
    probe.permit.answered(RateLimitInfo(limit=5, remaining=0, reset=12))
    waits = {round((await gate.admit("b")).wait, 6) for _ in range(1000)}
    assert waits == {12.0}
    sleeper.advance(12.0)
    granted = [await gate.admit("b") for _ in range(6)]
    assert [a.permit is not None for a in granted] == [True] * 5 + [False]


async def test_a_retry_after_holds_every_caller_until_it_passes_and_no_longer(
    make_client: ClientFactory, fake: FakePersona, sleeper: SleepRecorder
) -> None:
    client = make_client(retry=RetryPolicy(max_retries=0, budget_seconds=1.0))
    unavailable = Reply(503, {"errors": [{"title": "Service unavailable"}]}, {"Retry-After": "5"})
    fake.then(_ok(120, 100, 60), unavailable)
    await client.get("/accounts/act_1")
    with pytest.raises(ServerError):
        await client.get("/accounts/act_1")
    with pytest.raises(RateLimitedError) as held:
        await client.get("/accounts/act_1")
    assert held.value.attempts == 0 and held.value.retry_after == pytest.approx(5.0)
    sleeper.advance(5.0)
    assert (await client.get("/accounts/act_1")).exchange.attempts == 1
    assert len(fake.seen) == 3


_states = st.builds(
    WindowState,
    limit=st.none() | st.integers(1, 1000),
    remaining=st.none() | st.integers(0, 1000),
    ends_at=st.none() | st.floats(0, 10_000),
    heard=st.booleans(),
    in_flight=st.integers(0, 100),
    next_at=st.floats(0, 10_000),
    window_seconds=st.none() | st.floats(1, 3600),
    held_until=st.floats(0, 10_000),
)


@given(state=_states, now=st.floats(0, 10_000), slow_down_below=st.floats(0, 0.99))
def test_asking_the_gate_reserves_nothing_and_never_hears_a_wait_longer_than_the_window(
    state: WindowState, now: float, slow_down_below: float
) -> None:
    after, wait = admit(state, now, slow_down_below)
    assert 0.0 <= wait <= after.window
    before = current(state, now)
    if wait > 0:
        assert (after.in_flight, after.remaining, after.held_until) == (
            before.in_flight,
            before.remaining,
            before.held_until,
        )
        assert admit(after, now, slow_down_below) == (after, wait), "asking again changes nothing"
    else:
        assert after.in_flight == before.in_flight + 1
