"""Pacing of requests to Persona, driven by what Persona says about its rate-limit window.

Persona's limit is a fixed window per environment, shared by every key and caller (PROTOCOL.md section 8):
it opens with the first request, allows `RateLimit-Limit` requests, and resets `RateLimit-Reset` seconds
later. The gate keeps, per budget, only what Persona last said (limit, lowest remaining, when the window
ends) and the permits handed out whose answers have not come back yet. A caller either gets a permit now
or is told how long to wait; a caller that waits holds nothing, so a caller that gives up costs nothing
(the gate of the first wave pushed a slot forward for every caller, refused or not, and locked a server
out of Persona for hours). Every answer replaces the gate's belief with Persona's word; when the window's
end has passed the budget is presumed full again, so the gate recovers by itself without any request.

Permits that are never settled (a cancelled call) are forgotten when their window ends. Waits are never
longer than the window: the longest `RateLimit-Reset` seen, or a minute before Persona has said anything.
Below `slow_down_below` of the limit the rest of the window is spread evenly, as Persona advises, instead
of being spent in a burst that ends in 429s.

Where the state lives is a `WindowLedger`: this process's memory by default, or a table that replicas
sharing PostgreSQL update atomically, so that they spend one budget between them. Where asking the ledger
is a round trip, the gate takes a few permits ahead while the window is far from its end (`admit_ahead`),
so most requests do not wait for one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

from persona_mcp.persona.retry import RateLimitInfo

#: Persona's documented window (requests per minute), assumed until a `RateLimit-Reset` says otherwise.
DEFAULT_WINDOW_SECONDS = 60.0
#: The budget of a client that was not told which one it spends from.
DEFAULT_BUDGET = "default"
#: The longest a replica keeps permits it took ahead (`admit_ahead`) before giving back the unused ones.
RESERVE_SECONDS = 0.5

_R = TypeVar("_R")


@dataclass(frozen=True, slots=True)
class WindowState:
    """What Persona last said about one budget, and the permits given out against it.

    Times are seconds on the ledger's clock (the database's, for a shared ledger). `heard` tells whether
    an answer has come back since the window was presumed to open; until then `ends_at` is a guess.
    `next_at` spaces the window's last requests; `held_until` is Persona's own "not before" (a 429's or
    503's `Retry-After`), which outlasts the window it was said in.
    """

    limit: int | None = None
    remaining: int | None = None
    ends_at: float | None = None
    heard: bool = False
    in_flight: int = 0
    next_at: float = 0.0
    window_seconds: float | None = None
    held_until: float = 0.0

    @property
    def window(self) -> float:
        """The window's length: the longest `RateLimit-Reset` seen, else Persona's documented minute."""
        return self.window_seconds or DEFAULT_WINDOW_SECONDS


#: One atomic read-modify-write of a budget's state, given the ledger's current time.
Step = Callable[[WindowState, float], tuple[WindowState, _R]]


class WindowLedger(Protocol):
    """Where the window state of each budget lives.

    `update` applies one step atomically and returns its result; `post` applies a step whose result
    nobody needs (settling a permit) after every step asked before it, without making the caller wait:
    an answer from Persona must not cost the call a round trip to a shared store (issue 18).
    """

    async def update(self, key: str, step: Step[_R]) -> _R: ...

    def post(self, key: str, step: Step[Any]) -> None: ...


class LocalLedger:
    """Window state in this process's memory (one server process, or tests)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._states: dict[str, WindowState] = {}

    async def update(self, key: str, step: Step[_R]) -> _R:
        return self._apply(key, step)

    def post(self, key: str, step: Step[Any]) -> None:
        self._apply(key, step)

    def _apply(self, key: str, step: Step[_R]) -> _R:
        # No await between read and write: atomic on the event loop.
        state, result = step(self._states.get(key, WindowState()), self._clock())
        self._states[key] = state
        return result


# -- the transitions: pure functions of (state, now) --------------------------------------------------------


def current(state: WindowState, now: float) -> WindowState:
    """The state as of `now`: once the window's end has passed, a fresh window is presumed."""
    if state.ends_at is None or now < state.ends_at:
        return state
    return WindowState(
        limit=state.limit,
        remaining=state.limit,
        window_seconds=state.window_seconds,
        held_until=state.held_until,
    )


def admit(state: WindowState, now: float, slow_down_below: float) -> tuple[WindowState, float]:
    """Give a permit (wait 0) or say how long to wait; a wait reserves nothing."""
    state = current(state, now)
    if now < state.held_until:
        return state, _bounded(state.held_until - now, state)
    if state.remaining is None:
        # Persona has not told us its limit yet: the first answers will.
        return replace(state, in_flight=state.in_flight + 1), 0.0
    available = state.remaining - state.in_flight
    ends_at = state.ends_at
    if ends_at is None:
        # A presumed-fresh window opens with this request; it ends a window from now at the latest.
        ends_at = now + state.window
        state = replace(state, ends_at=ends_at, heard=False, next_at=0.0)
    if available <= 0:
        return state, _bounded(ends_at - now, state)
    if state.heard and available < _paced_share(state.limit, slow_down_below):
        if now < state.next_at:
            return state, _bounded(state.next_at - now, state)
        state = replace(state, next_at=now + (ends_at - now) / available)
    return replace(state, in_flight=state.in_flight + 1), 0.0


@dataclass(frozen=True, slots=True)
class TakenAhead:
    """Permits `admit_ahead` took beyond the one asked for: how many, for how long they may be used
    (seconds from now), and the end of the window they count in (the ledger's clock)."""

    count: int
    lasts: float
    window_end: float


def admit_ahead(
    state: WindowState, now: float, slow_down_below: float, ahead: int
) -> tuple[WindowState, tuple[float, TakenAhead | None]]:
    """`admit`, taking up to `ahead` more permits at once while the window is far from its end.

    Returns the state, and (wait, the extra permits taken if any). Extra permits are taken only where
    `admit` would give each of them at once, unpaced: Persona has said how much of its window is left,
    nothing is held, and after all of them the window is still above the share below which requests are
    spread out. They count as in flight from now on, so whoever shares the ledger sees them spent; their
    use ends with the window, and at `RESERVE_SECONDS` at the latest.
    """
    state, wait = admit(state, now, slow_down_below)
    ends_at = state.ends_at
    # Before Persona's first answer nobody knows how small the window is (and `admit` set no end).
    if wait > 0 or ahead <= 0 or state.remaining is None or ends_at is None:
        return state, (wait, None)
    # After the permit just given: what the window has left, less the share that is spent unpaced.
    taken = min(ahead, int(state.remaining - state.in_flight - _paced_share(state.limit, slow_down_below)))
    lasts = min(RESERVE_SECONDS, ends_at - now)
    if taken <= 0 or lasts <= 0:
        return state, (wait, None)
    return replace(state, in_flight=state.in_flight + taken), (wait, TakenAhead(taken, lasts, ends_at))


def _paced_share(limit: float | None, slow_down_below: float) -> float:
    """The requests at the end of a window that are spread out rather than sent at once."""
    return limit * slow_down_below if limit is not None else 0.0


def returned(count: int, window_end: float) -> Step[None]:
    """Give back `count` permits taken ahead in the window ending at `window_end` and never used. In a
    later window nothing is given back: if it began at the old window's end, `current` forgot them; if
    Persona's answer opened it early (`_merge`), they stay counted until it ends, which wastes at most
    `count` permits of that window and never spends one twice."""

    def step(state: WindowState, now: float) -> tuple[WindowState, None]:
        state = current(state, now)
        # One window's answers disagree about its end by up to a second (`_merge`).
        if state.ends_at is None or state.ends_at > window_end + 1.0:
            return state, None
        return replace(state, in_flight=max(state.in_flight - count, 0)), None

    return step


def answered(
    state: WindowState, now: float, info: RateLimitInfo, hold: float | None
) -> tuple[WindowState, None]:
    """Settle a permit with Persona's answer: its `RateLimit-*` headers and, on a 429/503, `Retry-After`."""
    state = current(state, now)
    state = replace(state, in_flight=max(state.in_flight - 1, 0))
    if info.reset is not None and info.reset > 0:
        state = replace(state, window_seconds=max(state.window_seconds or 0.0, info.reset))
    if info.limit is not None and info.limit >= 1:
        state = replace(state, limit=int(info.limit))
    if info.remaining is not None and info.reset is not None:
        state = _merge(state, now, int(info.remaining), now + info.reset)
    elif state.remaining is not None:
        # An answer without the headers still counted upstream.
        state = replace(state, remaining=max(state.remaining - 1, 0))
    if hold is not None:
        # Persona refused for now: nothing more until the stated time, but never longer than a window.
        state = replace(state, held_until=max(state.held_until, now + min(hold, state.window)))
    return state, None


def _merge(state: WindowState, now: float, remaining: int, ends_at: float) -> WindowState:
    """Fold one answer's window into the state; an answer from a later window replaces it."""
    # `RateLimit-Reset` is whole seconds, so answers from one window disagree about its end by up to one.
    known_end = state.ends_at
    if not state.heard or known_end is None or ends_at > known_end + 1.0:
        return replace(state, remaining=remaining, ends_at=ends_at, heard=True, next_at=0.0)
    lowest = remaining if state.remaining is None else min(state.remaining, remaining)
    # The latest estimate of the end is the safe one: it is never before the true end by more than rounding.
    return replace(state, remaining=lowest, ends_at=max(known_end, ends_at))


def unanswered(state: WindowState, now: float) -> tuple[WindowState, None]:
    """Settle a permit whose request was sent but got no answer: count it as spent."""
    state = current(state, now)
    remaining = None if state.remaining is None else max(state.remaining - 1, 0)
    return replace(state, in_flight=max(state.in_flight - 1, 0), remaining=remaining), None


def unused(state: WindowState, now: float) -> tuple[WindowState, None]:
    """Give back a permit whose request was never sent, and the pacing slot it took."""
    state = current(state, now)
    return replace(state, in_flight=max(state.in_flight - 1, 0), next_at=min(state.next_at, now)), None


def _bounded(wait: float, state: WindowState) -> float:
    return min(max(wait, 0.0), state.window)


# -- the gate ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Admission:
    """The gate's answer: a permit (with `wait` 0), or how long to wait and no permit.

    `window` is the budget's window length, the cap on `wait` and on any hint derived from it.
    """

    wait: float
    window: float
    permit: Permit | None


class Permit:
    """The right to send one request; settled once, by the answer, by a lost answer or by not sending."""

    def __init__(
        self,
        ledger: WindowLedger,
        key: str,
        on_answer: Callable[[RateLimitInfo, float | None], None] | None = None,
    ) -> None:
        self._ledger = ledger
        self._key = key
        self._on_answer = on_answer
        self._settled = False

    # Settling is posted, not awaited: it changes the state for the requests after this one, and the
    # caller has nothing to wait for (the ledger applies it after every step asked before it).

    def answered(self, info: RateLimitInfo, *, retry_after: float | None = None) -> None:
        """Persona answered: its headers (and, for a 429 or 503, its `Retry-After`) become the state."""
        if self._settle():
            if self._on_answer is not None:
                self._on_answer(info, retry_after)
            self._ledger.post(self._key, lambda s, now: answered(s, now, info, retry_after))

    def unanswered(self) -> None:
        """The request went out but no answer came back; it may have counted, so it is taken as spent."""
        if self._settle():
            self._ledger.post(self._key, unanswered)

    def give_back(self) -> None:
        """The request was not sent after all."""
        if self._settle():
            self._ledger.post(self._key, unused)

    def _settle(self) -> bool:
        first, self._settled = not self._settled, True
        return first


@dataclass(slots=True)
class _Reserve:
    """Permits a gate took ahead for one budget: how many are left, until when (the gate's clock), the
    window they count in, and the timer that gives them back."""

    left: int
    until: float
    window: float
    window_end: float
    expiry: asyncio.TimerHandle | None = None


class RateGate:
    """Tells each request to go now (with a permit) or how long to wait, per budget.

    A client and all its `bind()` copies share one gate; each copy names the budget it spends from (one
    per Persona environment), and the ledger decides whether other replicas share it.

    With `take_ahead` (a ledger shared through the database, where asking is a round trip), a permit
    asked for while the window is far from its end comes with up to that many more (`admit_ahead`),
    counted in flight in the ledger at once; the next requests use them without asking again. What is
    left unused is given back after `RESERVE_SECONDS`, at the window's end, or at once when Persona holds
    this replica back (a 429 or 503), so other replicas never wait long for permits nobody uses and no
    permit taken ahead goes out after Persona said stop.
    """

    def __init__(
        self,
        ledger: WindowLedger | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        slow_down_below: float = 0.15,
        take_ahead: int = 0,
    ) -> None:
        if not 0.0 <= slow_down_below < 1.0:
            raise ValueError("slow_down_below must be in [0, 1)")
        if take_ahead < 0:
            raise ValueError("take_ahead must be >= 0")
        self._ledger = ledger if ledger is not None else LocalLedger(clock)
        self._slow_down_below = slow_down_below
        self._take_ahead = take_ahead
        self._clock = clock
        self._reserves: dict[str, _Reserve] = {}
        self._taking: set[str] = set()

    async def admit(self, budget: str = DEFAULT_BUDGET) -> Admission:
        """A permit to send now, or the wait before asking again (which holds no place in any queue)."""
        reserve = self._reserves.get(budget)
        if reserve is not None:
            if self._clock() < reserve.until:
                reserve.left -= 1
                if reserve.left == 0:
                    self._drop(budget)
                return Admission(0.0, reserve.window, self._permit(budget))
            self.give_back(budget)
        # One caller at a time takes permits ahead; the others asking meanwhile share its transaction.
        ahead = 0 if budget in self._taking else self._take_ahead
        slow_down_below = self._slow_down_below

        def step(
            state: WindowState, now: float
        ) -> tuple[WindowState, tuple[float, float, TakenAhead | None]]:
            state, (wait, taken) = admit_ahead(state, now, slow_down_below, ahead)
            return state, (wait, state.window, taken)

        if not ahead:
            wait, window, _ = await self._ledger.update(budget, step)
            return Admission(wait, window, self._permit(budget) if wait <= 0 else None)
        # The ask runs to its end even if this caller is cancelled meanwhile, so what it took is never
        # lost: kept for the next callers, and this caller's own permit given back (`_abandoned`).
        self._taking.add(budget)
        asked = asyncio.ensure_future(self._ledger.update(budget, step))
        try:
            wait, window, taken = await asyncio.shield(asked)
        except asyncio.CancelledError:
            asked.add_done_callback(functools.partial(self._abandoned, budget))
            raise
        finally:
            self._taking.discard(budget)
        if taken is not None:
            self._keep(budget, taken, window)
        return Admission(wait, window, self._permit(budget) if wait <= 0 else None)

    def _abandoned(self, budget: str, asked: asyncio.Future[tuple[float, float, TakenAhead | None]]) -> None:
        """An ask whose caller was cancelled has ended: keep what it took ahead, give back its permit."""
        if asked.cancelled() or asked.exception() is not None:
            return
        wait, window, taken = asked.result()
        if taken is not None:
            self._keep(budget, taken, window)
        if wait <= 0:
            self._ledger.post(budget, unused)

    def give_back(self, budget: str) -> None:
        """Return the permits taken ahead for `budget` and not used yet."""
        reserve = self._drop(budget)
        if reserve is not None and reserve.left > 0:
            self._ledger.post(budget, returned(reserve.left, reserve.window_end))

    def _permit(self, budget: str) -> Permit:
        if not self._take_ahead:
            return Permit(self._ledger, budget)
        return Permit(self._ledger, budget, on_answer=functools.partial(self._answered, budget))

    def _answered(self, budget: str, info: RateLimitInfo, retry_after: float | None) -> None:
        """Persona held this replica back, or its window has less left than the permits taken ahead
        (requests from elsewhere spent it): none of them goes out after this answer."""
        reserve = self._reserves.get(budget)
        if reserve is None:
            return
        low = info.remaining is not None and (
            info.remaining < reserve.left + _paced_share(info.limit, self._slow_down_below)
        )
        if retry_after is not None or low:
            self.give_back(budget)

    def _keep(self, budget: str, taken: TakenAhead, window: float) -> None:
        self.give_back(budget)  # a reserve left from before is never kept beside a new one
        reserve = _Reserve(taken.count, self._clock() + taken.lasts, window, taken.window_end)
        with contextlib.suppress(RuntimeError):  # no running loop: given back at the next admit instead
            reserve.expiry = asyncio.get_running_loop().call_later(taken.lasts, self.give_back, budget)
        self._reserves[budget] = reserve

    def _drop(self, budget: str) -> _Reserve | None:
        reserve = self._reserves.pop(budget, None)
        if reserve is not None and reserve.expiry is not None:
            reserve.expiry.cancel()
        return reserve

    async def aclose(self) -> None:
        """Give back the permits taken ahead, let the ledger apply what was posted to it and release
        what it holds (a shared ledger's connection); a ledger in memory holds nothing."""
        for budget in list(self._reserves):
            self.give_back(budget)
        close = getattr(self._ledger, "aclose", None)
        if close is not None:
            await close()
