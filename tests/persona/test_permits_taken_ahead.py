"""Permits taken ahead (issue 18): where asking the ledger is a round trip, a gate takes a few permits with
the one it asks for, while the window is far from its end, and gives back what it does not use.

The promise is the gate's own, unchanged: no more requests than Persona's window allows, none after
Persona said stop, and permits nobody uses never keep others waiting for long.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from persona_mcp.persona import ratelimit
from persona_mcp.persona.ratelimit import (
    LocalLedger,
    RateGate,
    Step,
    WindowState,
    admit,
    admit_ahead,
    returned,
)
from persona_mcp.persona.retry import RateLimitInfo

pytestmark = pytest.mark.anyio

WINDOW = 60.0
#: Persona has answered: 300 a window, 200 left, ending in a minute.
HEARD = WindowState(limit=300, remaining=200, ends_at=WINDOW, heard=True, window_seconds=WINDOW)


def frozen_clock() -> float:
    """The ledger's and the gate's time: the start of HEARD's window, throughout a test."""
    return 0.0


class CountingLedger:
    """A ledger in memory that counts the steps a gate awaits (each one a round trip when shared)."""

    def __init__(self, state: WindowState = HEARD) -> None:
        self.inner = LocalLedger(frozen_clock)
        self.inner._states["b"] = state
        self.asked = 0

    async def update(self, key: str, step: Step[Any]) -> Any:
        self.asked += 1
        return await self.inner.update(key, step)

    def post(self, key: str, step: Step[Any]) -> None:
        self.inner.post(key, step)

    @property
    def state(self) -> WindowState:
        return self.inner._states["b"]


def test_far_from_the_windows_end_a_permit_comes_with_the_ones_taken_ahead_counted_in_flight() -> None:
    state, (wait, taken) = admit_ahead(HEARD, 0.0, 0.15, 8)
    assert wait == 0 and taken is not None
    assert (taken.count, taken.lasts, taken.window_end) == (8, ratelimit.RESERVE_SECONDS, WINDOW)
    assert state.in_flight == 9, "whoever shares the ledger sees them spent"


def test_near_the_paced_share_only_what_keeps_the_window_above_it_is_taken_and_within_it_none() -> None:
    near = WindowState(limit=100, remaining=20, ends_at=WINDOW, heard=True)  # 15 of 100 are paced
    state, (_, taken) = admit_ahead(near, 0.0, 0.15, 8)
    assert taken is not None and taken.count == 4 and state.in_flight == 5
    within = WindowState(limit=100, remaining=15, ends_at=WINDOW, heard=True)
    _, (wait, taken) = admit_ahead(within, 0.0, 0.15, 8)
    assert wait == 0 and taken is None


def test_nothing_is_taken_ahead_before_persona_answered_or_while_it_holds_or_near_the_windows_end() -> None:
    _, (_, taken) = admit_ahead(WindowState(), 0.0, 0.15, 8)
    assert taken is None, "the window's size is not known yet"
    held = WindowState(limit=300, remaining=200, ends_at=WINDOW, heard=True, held_until=5.0)
    _, (wait, taken) = admit_ahead(held, 0.0, 0.15, 8)
    assert wait > 0 and taken is None
    _, (_, taken) = admit_ahead(HEARD, WINDOW - 0.1, 0.15, 8)
    assert taken is not None and taken.lasts == pytest.approx(0.1), "their use ends with the window"


@given(
    limit=st.integers(1, 1000),
    spent=st.integers(0, 1000),
    in_flight=st.integers(0, 50),
    ahead=st.integers(0, 16),
    slow_down_below=st.sampled_from([0.0, 0.15, 0.5]),
)
def test_every_permit_taken_ahead_is_one_admit_would_have_given_at_once(
    limit: int, spent: int, in_flight: int, ahead: int, slow_down_below: float
) -> None:
    state = WindowState(
        limit=limit, remaining=max(limit - spent, 0), ends_at=WINDOW, heard=True, in_flight=in_flight
    )
    after, (wait, taken) = admit_ahead(state, 0.0, slow_down_below, ahead)
    one_by_one, first_wait = admit(state, 0.0, slow_down_below)
    assert wait == first_wait
    for _ in range(taken.count if taken is not None else 0):
        one_by_one, each_wait = admit(one_by_one, 0.0, slow_down_below)
        assert each_wait == 0 and one_by_one.next_at == 0.0, "given at once, unpaced"
    assert after.in_flight == one_by_one.in_flight


def test_permits_given_back_count_again_in_their_window_and_not_in_a_later_one() -> None:
    state, (_, taken) = admit_ahead(HEARD, 0.0, 0.15, 8)
    assert taken is not None
    back, _ = returned(taken.count, taken.window_end)(state, 1.0)
    assert back.in_flight == 1
    later = WindowState(limit=300, remaining=300, ends_at=2 * WINDOW + 5, heard=True, in_flight=3)
    kept, _ = returned(taken.count, taken.window_end)(later, WINDOW + 6)
    assert kept.in_flight == 3, "another window's permits are not taken for these"


async def test_a_gate_taking_permits_ahead_asks_the_ledger_once_for_several_requests() -> None:
    ledger = CountingLedger()
    gate = RateGate(ledger, clock=frozen_clock, take_ahead=3)
    permits = [(await gate.admit("b")).permit for _ in range(4)]
    assert all(permits) and ledger.asked == 1
    assert ledger.state.in_flight == 4
    assert (await gate.admit("b")).permit is not None and ledger.asked == 2, "used up: it asks again"
    assert ledger.state.in_flight == 5 + 3
    await gate.aclose()
    assert ledger.state.in_flight == 5, "closing gave back the three taken ahead and not used"


async def test_permits_taken_ahead_and_not_used_are_given_back_when_their_time_is_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ratelimit, "RESERVE_SECONDS", 0.05)
    ledger = CountingLedger()
    gate = RateGate(ledger, take_ahead=4)  # the real clock: the loop's timer gives them back
    assert (await gate.admit("b")).permit is not None
    assert ledger.state.in_flight == 5
    await anyio.sleep(0.2)
    assert ledger.state.in_flight == 1, "only the permit in use still counts"
    assert (await gate.admit("b")).permit is not None and ledger.asked == 2


async def test_after_persona_holds_the_replica_back_no_permit_taken_ahead_goes_out() -> None:
    ledger = CountingLedger()
    gate = RateGate(ledger, clock=frozen_clock, take_ahead=4)
    first = (await gate.admit("b")).permit
    assert first is not None
    first.answered(RateLimitInfo(limit=300, remaining=150, reset=WINDOW), retry_after=30.0)  # a 429
    refused = await gate.admit("b")
    assert refused.permit is None and refused.wait == pytest.approx(30.0)
    assert ledger.asked == 2 and ledger.state.in_flight == 0


async def test_an_answer_showing_less_left_than_the_permits_taken_ahead_gives_them_back() -> None:
    """Requests from elsewhere (another client of the organisation) spent the window meanwhile."""
    ledger = CountingLedger()
    gate = RateGate(ledger, clock=frozen_clock, slow_down_below=0.0, take_ahead=4)
    first = (await gate.admit("b")).permit
    assert first is not None
    first.answered(RateLimitInfo(limit=300, remaining=3, reset=WINDOW))
    assert (await gate.admit("b")).permit is not None
    assert ledger.asked == 2, "the ledger was asked again, and knew of the answer"
    assert ledger.state.in_flight == 3, "this permit and the two the window still had room for"


class SlowLedger(CountingLedger):
    """Applies each awaited step only once `go` is set, as a transaction that takes a while."""

    def __init__(self) -> None:
        super().__init__()
        self.go = anyio.Event()

    async def update(self, key: str, step: Step[Any]) -> Any:
        self.asked += 1
        await self.go.wait()
        return await self.inner.update(key, step)


async def test_a_caller_cancelled_while_its_ask_is_applied_loses_no_permit() -> None:
    ledger = SlowLedger()
    gate = RateGate(ledger, clock=frozen_clock, take_ahead=4)
    async with anyio.create_task_group() as tg:
        tg.start_soon(gate.admit, "b")
        await anyio.sleep(0.01)
        tg.cancel_scope.cancel()  # the caller gives up while its ask is in the ledger
    ledger.go.set()
    await anyio.sleep(0.01)
    assert ledger.state.in_flight == 4, "its own permit given back, the four taken ahead kept"
    assert (await gate.admit("b")).permit is not None and ledger.asked == 1, "the next caller uses them"
    await gate.aclose()
    assert ledger.state.in_flight == 1
