from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from auth_helpers import Clock, RecordingSink
from sqlalchemy import select

from persona_mcp.auth.environment import Environment
from persona_mcp.auth.grant import GrantDraft, GrantState, PrincipalKind
from persona_mcp.auth.grants import (
    GrantError,
    GrantStateError,
    GrantStore,
    UnauditedChangeError,
    UnknownToolError,
)
from persona_mcp.auth.scopes import DEFAULT_READ_ONLY, Scope
from persona_mcp.store import Store
from persona_mcp.store.schema.grants import grants as grants_table

pytestmark = pytest.mark.anyio


def _draft(**overrides: object) -> GrantDraft:
    values: dict[str, object] = {"principal": "support-bot", "environment": Environment.SANDBOX}
    values.update(overrides)
    return GrantDraft(**values)  # type: ignore[arg-type]


async def test_create_without_scopes_gives_the_read_only_default(grant_store: GrantStore) -> None:
    issued = await grant_store.create(_draft())
    assert issued.grant.scopes == DEFAULT_READ_ONLY
    assert issued.token.startswith("pmcp_")
    assert len(issued.token.removeprefix("pmcp_")) > 32


async def test_created_grant_reads_back_with_every_field(grant_store: GrantStore, clock: Clock) -> None:
    expiry = clock.now + timedelta(days=30)
    issued = await grant_store.create(
        _draft(
            principal="alice@example.com",
            principal_kind=PrincipalKind.PERSON,
            environment=Environment.PRODUCTION,
            scopes=frozenset({Scope.ACCOUNTS_WRITE, Scope.PII_READ}),
            expires_at=expiry,
            allow_tools=frozenset({"get_account", "create_account"}),
            deny_tools=frozenset({"redact_account"}),
            read_only=True,
            rate_per_minute=30,
            label="reviewer",
        )
    )
    stored = await grant_store.get(issued.grant.id)
    assert stored == issued.grant
    assert stored is not None
    assert stored.expires_at == expiry
    assert stored.state(clock.now) is GrantState.LIVE


async def test_list_shows_created_grants_in_creation_order(grant_store: GrantStore, clock: Clock) -> None:
    first = await grant_store.create(_draft(principal="a"))
    clock.advance(1)
    second = await grant_store.create(_draft(principal="b"))
    assert [g.id for g in await grant_store.list_all()] == [first.grant.id, second.grant.id]


async def test_token_authenticates_its_grant_and_nothing_else(grant_store: GrantStore) -> None:
    issued = await grant_store.create(_draft())
    assert (await grant_store.authenticate(issued.token)) == issued.grant
    tampered = issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B")
    assert await grant_store.authenticate(tampered) is None
    assert await grant_store.authenticate("pmcp_not-a-token") is None
    assert await grant_store.authenticate("") is None


async def test_revoke_marks_the_grant_revoked_and_twice_is_an_error(
    grant_store: GrantStore, clock: Clock
) -> None:
    issued = await grant_store.create(_draft())
    revoked = await grant_store.revoke(issued.grant.id, actor="cli:test")
    assert revoked.state(clock.now) is GrantState.REVOKED
    stored = await grant_store.get(issued.grant.id)
    assert stored is not None and stored.revoked_at == clock.now
    with pytest.raises(GrantStateError):
        await grant_store.revoke(issued.grant.id)


async def test_rotate_issues_a_new_token_and_the_old_one_dies_at_once(grant_store: GrantStore) -> None:
    issued = await grant_store.create(_draft())
    rotated = await grant_store.rotate(issued.grant.id)
    assert rotated.token != issued.token
    assert await grant_store.authenticate(issued.token) is None
    authenticated = await grant_store.authenticate(rotated.token)
    assert authenticated is not None and authenticated.id == issued.grant.id


async def test_update_changes_constraints_but_not_principal(grant_store: GrantStore) -> None:
    issued = await grant_store.create(_draft())
    updated = await grant_store.update(
        issued.grant.id, _draft(scopes=frozenset({Scope.INQUIRIES_DECIDE}), rate_per_minute=5)
    )
    assert updated.scopes == {Scope.INQUIRIES_DECIDE}
    assert await grant_store.get(issued.grant.id) == updated
    with pytest.raises(GrantStateError):
        await grant_store.update(issued.grant.id, _draft(principal="someone-else"))


async def test_unknown_tool_names_are_refused_at_creation(grant_store: GrantStore) -> None:
    with pytest.raises(UnknownToolError, match="delete_everything"):
        await grant_store.create(_draft(allow_tools=frozenset({"get_account", "delete_everything"})))
    with pytest.raises(UnknownToolError, match="nope"):
        await grant_store.create(_draft(deny_tools=frozenset({"nope"})))
    assert await grant_store.list_all() == []


async def test_tool_lists_are_refused_when_no_catalogue_is_known(store: Store, sink: RecordingSink) -> None:
    unchecked = GrantStore(store, events=sink)
    with pytest.raises(UnknownToolError, match="no tool catalogue"):
        await unchecked.create(_draft(allow_tools=frozenset({"get_account"})))


async def test_expiry_in_the_past_and_bad_rate_are_refused(grant_store: GrantStore, clock: Clock) -> None:
    with pytest.raises(GrantError, match="future"):
        await grant_store.create(_draft(expires_at=clock.now - timedelta(seconds=1)))
    with pytest.raises(GrantError, match="rate"):
        await grant_store.create(_draft(rate_per_minute=0))


async def test_every_change_is_reported_to_the_admin_sink_without_the_token(
    grant_store: GrantStore, sink: RecordingSink
) -> None:
    issued = await grant_store.create(_draft(), actor="cli:alice")
    rotated = await grant_store.rotate(issued.grant.id, actor="cli:alice")
    await grant_store.update(issued.grant.id, _draft(read_only=True), actor="cli:alice")
    await grant_store.revoke(issued.grant.id, actor="cli:alice")
    assert sink.actions == ["grant.created", "grant.rotated", "grant.updated", "grant.revoked"]
    assert {event["target"] for event in sink.events} == {issued.grant.id}
    assert {event["actor"] for event in sink.events} == {"cli:alice"}
    assert sink.events[2]["details"]["changed"] == {"read_only": [False, True]}
    text = repr(sink.events)
    assert issued.token not in text and rotated.token not in text


async def test_a_change_the_audit_log_refuses_is_not_made(
    grant_store: GrantStore, sink: RecordingSink
) -> None:
    issued = await grant_store.create(_draft())
    sink.fail = True
    with pytest.raises(UnauditedChangeError):
        await grant_store.create(_draft(principal="other"))
    with pytest.raises(UnauditedChangeError):
        await grant_store.revoke(issued.grant.id)
    with pytest.raises(UnauditedChangeError):
        await grant_store.rotate(issued.grant.id)
    assert [g.principal for g in await grant_store.list_all()] == ["support-bot"]
    still = await grant_store.get(issued.grant.id)
    assert still is not None and still.revoked_at is None
    assert await grant_store.authenticate(issued.token) is not None


async def test_the_database_keeps_only_a_digest_of_the_token(grant_store: GrantStore, store: Store) -> None:
    issued = await grant_store.create(_draft())
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(grants_table))).one()
    assert issued.token not in repr(tuple(row))
    assert row.token_id in issued.token
    assert len(row.token_digest) == 32


async def test_the_clear_token_never_reaches_the_sqlite_file(
    sqlite_url: str, sink: RecordingSink, clock: Clock
) -> None:
    from persona_mcp.store import create_store, upgrade

    store = create_store(sqlite_url)
    await upgrade(store)
    try:
        grant_store = GrantStore(store, events=sink, clock=clock)
        issued = await grant_store.create(_draft())
        rotated = await grant_store.rotate(issued.grant.id)
    finally:
        await store.close()
    db_file = Path(sqlite_url.removeprefix("sqlite+aiosqlite:///"))
    content = b"".join(p.read_bytes() for p in db_file.parent.iterdir() if p.name.startswith(db_file.name))
    assert rotated.grant.token_id.encode() in content  # the lookup id is stored, so the search is meaningful
    for token in (issued.token, rotated.token):
        secret = token.split("_", 2)[2]
        assert token.encode() not in content
        assert secret.encode() not in content
