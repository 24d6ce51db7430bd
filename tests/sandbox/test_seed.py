"""The demo seed is deterministic and has the documented counts."""

from __future__ import annotations

from collections import Counter

from persona_mcp.sandbox import SandboxConfig, create_app
from persona_mcp.sandbox.seed import DEMO_COUNTS


def test_the_demo_seed_is_deterministic_for_a_given_rng_seed() -> None:
    first = create_app(SandboxConfig(seed="demo", rng_seed=3)).state.sandbox
    second = create_app(SandboxConfig(seed="demo", rng_seed=3)).state.sandbox
    other = create_app(SandboxConfig(seed="demo", rng_seed=4)).state.sandbox

    assert list(first.records) == list(second.records)
    assert list(first.records) != list(other.records)


def test_the_demo_seed_has_its_documented_counts_and_one_inquiry_per_status() -> None:
    state = create_app(SandboxConfig(seed="demo")).state.sandbox
    statuses = Counter(r.attributes["status"] for r in state.records.values() if r.type == "inquiry")

    assert {kind: state.created_count(kind) for kind in DEMO_COUNTS} == DEMO_COUNTS
    assert set(statuses) == {
        "created",
        "pending",
        "completed",
        "failed",
        "expired",
        "needs_review",
        "approved",
        "declined",
    }
    assert set(statuses.values()) == {1}
    assert state.created_count("event") == len(state.events) > 0


def test_reset_restores_the_seed_and_keeps_the_same_faults_object() -> None:
    state = create_app(SandboxConfig(seed="demo")).state.sandbox
    faults = state.faults
    faults.fail_next = [500]
    ids = list(state.records)

    state.reset()

    assert list(state.records) == ids
    assert state.faults is faults and faults.fail_next == []
