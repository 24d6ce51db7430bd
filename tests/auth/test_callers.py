from __future__ import annotations

from datetime import timedelta

import anyio
import pytest
from auth_helpers import Clock

from persona_mcp.auth.callers import CallerResolver
from persona_mcp.auth.environment import Environment
from persona_mcp.auth.grant import GrantDraft
from persona_mcp.auth.grants import GrantStore
from persona_mcp.auth.scopes import Scope, expand

pytestmark = pytest.mark.anyio

_DRAFT = GrantDraft(principal="bot", environment=Environment.SANDBOX, scopes=frozenset({Scope.LISTS_WRITE}))


async def test_a_grant_token_resolves_to_its_caller(grant_store: GrantStore, clock: Clock) -> None:
    issued = await grant_store.create(_DRAFT)
    caller = await CallerResolver(grant_store, clock=clock).resolve(issued.token)
    assert caller is not None
    assert (caller.principal, caller.token_kind, caller.grant.id) == ("bot", "grant", issued.grant.id)
    assert caller.grant.environment is Environment.SANDBOX
    assert caller.effective_scopes == expand({Scope.LISTS_WRITE})
    assert caller.jwt_scopes is None


async def test_unknown_and_malformed_tokens_resolve_to_nobody(grant_store: GrantStore, clock: Clock) -> None:
    resolver = CallerResolver(grant_store, clock=clock)
    for token in ("", "pmcp_", "pmcp_0123456789abcdef_" + "x" * 43, "Bearer abc", "eyJhbGciOi.x.y", "\udcff"):
        assert await resolver.resolve(token) is None


async def test_revocation_takes_effect_once_the_two_second_cache_lapses(
    grant_store: GrantStore, clock: Clock
) -> None:
    issued = await grant_store.create(_DRAFT)
    resolver = CallerResolver(grant_store, clock=clock)
    assert await resolver.resolve(issued.token) is not None
    await grant_store.revoke(issued.grant.id)
    clock.advance(1.9)
    assert await resolver.resolve(issued.token) is not None  # still cached: bounded staleness
    clock.advance(0.1)
    assert await resolver.resolve(issued.token) is None


async def test_expiry_takes_effect_on_the_next_resolution_even_when_cached(
    grant_store: GrantStore, clock: Clock
) -> None:
    issued = await grant_store.create(
        GrantDraft(
            principal="bot", environment=Environment.SANDBOX, expires_at=clock.now + timedelta(seconds=1)
        )
    )
    resolver = CallerResolver(grant_store, clock=clock)
    assert await resolver.resolve(issued.token) is not None
    clock.advance(1)
    assert await resolver.resolve(issued.token) is None


async def test_rotation_kills_the_old_token_after_the_cache_window(
    grant_store: GrantStore, clock: Clock
) -> None:
    issued = await grant_store.create(_DRAFT)
    resolver = CallerResolver(grant_store, clock=clock)
    assert await resolver.resolve(issued.token) is not None
    rotated = await grant_store.rotate(issued.grant.id)
    clock.advance(2)
    assert await resolver.resolve(issued.token) is None
    assert await resolver.resolve(rotated.token) is not None


async def test_a_cache_longer_than_two_seconds_is_refused(grant_store: GrantStore) -> None:
    with pytest.raises(ValueError):
        CallerResolver(grant_store, cache_seconds=5)


async def test_concurrent_resolutions_of_an_expired_entry_share_one_grant_read(
    grant_store: GrantStore, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18: when the two-second entry lapses under 64 sessions, one read serves them all."""
    issued = await grant_store.create(_DRAFT)
    resolver = CallerResolver(grant_store, clock=clock)
    reads: list[str] = []
    authenticate = grant_store.authenticate

    async def counted(token: str) -> object:
        reads.append(token)
        await anyio.sleep(0.01)  # a database read takes a while: the other sessions arrive meanwhile
        return await authenticate(token)

    monkeypatch.setattr(grant_store, "authenticate", counted)
    assert await resolver.resolve(issued.token) is not None
    clock.advance(2)  # the entry has lapsed
    callers: list[object] = []

    async def resolve() -> None:
        callers.append(await resolver.resolve(issued.token))

    async with anyio.create_task_group() as tg:
        for _ in range(64):
            tg.start_soon(resolve)
    assert len(reads) == 2  # the first resolution, then one for the 64 concurrent ones
    assert len(callers) == 64 and all(c is not None and c.grant.id == issued.grant.id for c in callers)  # type: ignore[attr-defined]
    await grant_store.revoke(issued.grant.id)
    clock.advance(2)
    assert await resolver.resolve(issued.token) is None  # nothing shared outlives its flight
