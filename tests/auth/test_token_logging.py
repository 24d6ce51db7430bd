"""Tokens never reach the operational logs, on success or refusal."""

from __future__ import annotations

import pytest
from auth_helpers import Clock
from structlog.testing import capture_logs

from persona_mcp.auth.callers import CallerResolver
from persona_mcp.auth.environment import Environment
from persona_mcp.auth.grant import GrantDraft
from persona_mcp.auth.grants import GrantStore

pytestmark = pytest.mark.anyio


async def test_no_token_appears_in_logs_through_a_grants_life(grant_store: GrantStore, clock: Clock) -> None:
    with capture_logs() as logs:
        issued = await grant_store.create(GrantDraft(principal="bot", environment=Environment.SANDBOX))
        resolver = CallerResolver(grant_store, clock=clock)
        await resolver.resolve(issued.token)
        rotated = await grant_store.rotate(issued.grant.id)
        clock.advance(5)
        assert await resolver.resolve(issued.token) is None  # refused: logged with a reason
        await grant_store.revoke(issued.grant.id)
        assert await resolver.resolve(rotated.token) is None
    assert logs, "the life of a grant is logged"
    text = repr(logs)
    for token in (issued.token, rotated.token):
        assert token not in text
        assert token.split("_", 2)[2] not in text
    assert any(entry.get("reason") == "grant revoked" for entry in logs)
