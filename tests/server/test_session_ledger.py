"""The session ledger mirrors the SDK session manager's lifetime rules, on a clock the test moves."""

from __future__ import annotations

from persona_mcp.server.session_guard import Owner, SessionLedger

ALICE: Owner = ("grt_alice", "grant:grt_alice", None, "alice")
BOB: Owner = ("grt_bob", "grant:grt_bob", None, "bob")


class Ticker:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_session_expires_only_after_the_idle_timeout_with_nothing_in_flight() -> None:
    clock = Ticker()
    ledger = SessionLedger(idle_timeout=60, clock=clock)
    ledger.opened("s1", ALICE)
    clock.now += 600
    assert ledger.held_by("grt_alice") == 1, "the opening request is still in flight"
    ledger.leave("s1")
    clock.now += 59
    assert ledger.held_by("grt_alice") == 1
    ledger.enter("s1")  # e.g. an open SSE stream
    clock.now += 600
    assert ledger.held_by("grt_alice") == 1
    ledger.leave("s1")
    clock.now += 60
    assert ledger.held_by("grt_alice") == 0 and ledger.owner("s1") is None


def test_sessions_being_opened_count_against_their_grant_only() -> None:
    ledger = SessionLedger(idle_timeout=60, clock=Ticker())
    ledger.start_opening("grt_alice")
    ledger.opened("s1", ALICE)
    ledger.opened("s2", BOB)
    assert ledger.held_by("grt_alice") == 2, "reserved and registered for an instant: never under-counted"
    ledger.finish_opening("grt_alice")
    assert (ledger.held_by("grt_alice"), ledger.held_by("grt_bob"), ledger.open_count()) == (1, 1, 2)
    ledger.closed("s1")
    assert (ledger.held_by("grt_alice"), ledger.open_count()) == (0, 1)
    assert ledger.owner("s2") == BOB
