"""Plan and apply of a grants file on the store (both databases), with the admin events they emit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from auth_helpers import TOOL_NAMES, Clock, RecordingSink

from persona_mcp.auth import grants_file
from persona_mcp.auth.grant_input import GrantInputError, parse_expiry, parse_rate
from persona_mcp.auth.grants import GrantStore, UnauditedChangeError, UnknownToolError
from persona_mcp.auth.scopes import DEFAULT_READ_ONLY, Scope, UnknownScopeError

pytestmark = pytest.mark.anyio

_DECLARED = {
    "source": "ops",
    "grants": {
        "reader": {"principal": "reader-bot", "environment": "sandbox"},
        "writer": {
            "principal": "writer-bot",
            "environment": "production",
            "scopes": ["accounts:write"],
            "allow_tools": ["create_account", "get_account"],
            "rate": 10,
            "expires": "2099-01-01",
        },
    },
}


def _declared(clock: Clock, raw: dict[str, object] | None = None) -> grants_file.DeclaredGrants:
    return grants_file.parse(raw or _DECLARED, now=clock.now)


async def test_apply_records_each_change_before_making_it_then_what_was_applied_and_a_second_plan_is_empty(
    grant_store: GrantStore, sink: RecordingSink, clock: Clock
) -> None:
    declared = _declared(clock)
    plan = await grants_file.plan(grant_store, declared)
    assert [(c.action.value, c.name) for c in plan.changes] == [("create", "reader"), ("create", "writer")]
    applied = await grants_file.apply(grant_store, plan, actor="ci")
    assert sink.actions == ["grant.created", "grant.created", "grants.applied"]
    assert sink.events[-1]["details"]["changes"] == [change.as_dict() for change in plan.changes]
    assert applied.issued["reader"].grant.scopes == DEFAULT_READ_ONLY
    writer = applied.issued["writer"].grant
    assert (writer.managed_by, writer.managed_name, writer.rate_per_minute) == ("ops", "writer", 10)
    assert writer.expires_at == datetime(2099, 1, 1, tzinfo=UTC)
    assert (await grants_file.plan(grant_store, declared)).empty


async def test_a_plan_the_audit_log_refuses_changes_nothing(
    grant_store: GrantStore, sink: RecordingSink, clock: Clock
) -> None:
    plan = await grants_file.plan(grant_store, _declared(clock))
    sink.fail = True
    with pytest.raises(UnauditedChangeError):
        await grants_file.apply(grant_store, plan, actor="ci")
    assert await grant_store.list_all() == []


async def test_scopes_in_the_file_are_parsed_strictly(clock: Clock) -> None:
    bad = {
        "source": "ops",
        "grants": {"x": {"principal": "p", "environment": "sandbox", "scopes": ["account:read"]}},
    }
    with pytest.raises(UnknownScopeError, match=r"grants\.x"):
        _declared(clock, bad)
    wrong_env = {"source": "ops", "grants": {"x": {"principal": "p", "environment": "staging"}}}
    with pytest.raises(grants_file.GrantsFileError, match="environment"):
        _declared(clock, wrong_env)


async def test_unknown_tools_are_refused_for_the_whole_file(clock: Clock) -> None:
    declared = _declared(clock)
    grants_file.check_tools(declared, TOOL_NAMES)
    with pytest.raises(UnknownToolError, match=r"grants\.writer\.allow_tools: unknown tool name"):
        grants_file.check_tools(declared, TOOL_NAMES - {"create_account"})


def test_expiries_and_rates_parse_strictly() -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert parse_expiry("12h", now=now) == datetime(2026, 3, 2, 0, tzinfo=UTC)
    assert parse_expiry("2026-04-01", now=now) == datetime(2026, 4, 1, tzinfo=UTC)
    assert parse_expiry("2026-04-01T10:00:00+02:00", now=now) == datetime(2026, 4, 1, 8, tzinfo=UTC)
    assert parse_expiry("never", now=now) is None
    assert (parse_rate("60/min"), parse_rate("2/s"), parse_rate("15"), parse_rate(7)) == (60, 120, 15, 7)
    for bad_expiry in ("0d", "soon", "30x"):
        with pytest.raises(GrantInputError):
            parse_expiry(bad_expiry, now=now)
    with pytest.raises(GrantInputError):
        parse_expiry("30d", now=now, allow_relative=False)
    for bad_rate in ("0/min", "many", "5/h", 0, True):
        with pytest.raises(GrantInputError):
            parse_rate(bad_rate)  # type: ignore[arg-type]
    assert Scope.PII_READ not in DEFAULT_READ_ONLY
