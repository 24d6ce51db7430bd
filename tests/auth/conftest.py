"""Fixtures of the auth tests: a recording admin-event sink, a settable clock, and a grant store."""

from __future__ import annotations

import pytest
from auth_helpers import TOOL_NAMES, Clock, RecordingSink

from persona_mcp.auth.grants import GrantStore
from persona_mcp.store import Store


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def grant_store(store: Store, sink: RecordingSink, clock: Clock) -> GrantStore:
    return GrantStore(store, events=sink, known_tools=TOOL_NAMES, clock=clock)
