"""The policy function on hand-built grants (the catalogue-wide check is in test_policy_catalogue.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from persona_mcp.auth.environment import Environment
from persona_mcp.auth.grant import Grant, PrincipalKind
from persona_mcp.auth.policy import authorize, effective_scopes, visible
from persona_mcp.auth.scopes import IMPLIES, Scope, expand

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _grant(*scopes: Scope, **overrides: object) -> Grant:
    grant = Grant(
        id="grt_0000000000000000",
        principal="bot",
        principal_kind=PrincipalKind.AGENT,
        environment=Environment.SANDBOX,
        scopes=frozenset(scopes),
        expires_at=NOW + timedelta(days=1),
        created_at=NOW - timedelta(days=1),
        updated_at=NOW - timedelta(days=1),
    )
    return replace(grant, **overrides)  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Tool:
    name: str
    scope: Scope
    effect: str
    unmaskable: bool = False


def _effect_of(scope: Scope) -> str:
    if scope.value.endswith(":delete") or scope is Scope.INQUIRIES_DECIDE:
        return "destructive"
    return "write" if scope.value.endswith(":write") else "read"


@pytest.mark.parametrize("held", list(Scope))
@pytest.mark.parametrize("required", list(Scope))
def test_a_single_scope_allows_exactly_what_it_covers(held: Scope, required: Scope) -> None:
    decision = authorize(_grant(held), tool="t", scope=required, effect=_effect_of(required), now=NOW)
    assert decision.allowed is (required == held or required in IMPLIES.get(held, frozenset()))
    assert decision.missing_scope == (None if decision.allowed else required)


def test_write_scopes_never_reach_delete_or_decide() -> None:
    writes = [s for s in Scope if s.value.endswith(":write")]
    held = expand(writes)
    assert not any(s.value.endswith(":delete") for s in held)
    assert Scope.INQUIRIES_DECIDE not in held
    for required in [s for s in Scope if s.value.endswith(":delete")] + [Scope.INQUIRIES_DECIDE]:
        assert not authorize(_grant(*writes), tool="t", scope=required, effect="destructive", now=NOW).allowed


def test_a_grant_with_no_scopes_can_do_nothing() -> None:
    assert not any(authorize(_grant(), tool="t", scope=s, effect="read", now=NOW).allowed for s in Scope)


def test_revoked_and_expired_grants_are_refused_with_the_reason() -> None:
    revoked = _grant(Scope.ACCOUNTS_READ, revoked_at=NOW)
    expired = _grant(Scope.ACCOUNTS_READ, expires_at=NOW)
    assert (
        authorize(revoked, tool="t", scope=Scope.ACCOUNTS_READ, effect="read", now=NOW).reason
        == "grant revoked"
    )
    assert (
        authorize(expired, tool="t", scope=Scope.ACCOUNTS_READ, effect="read", now=NOW).reason
        == "grant expired"
    )
    live = authorize(
        expired, tool="t", scope=Scope.ACCOUNTS_READ, effect="read", now=NOW - timedelta(seconds=1)
    )
    assert live.allowed


def test_read_only_grant_refuses_writes_and_destructive_calls_even_with_the_scope() -> None:
    grant = _grant(Scope.ACCOUNTS_WRITE, Scope.ACCOUNTS_DELETE, read_only=True)
    assert authorize(grant, tool="get_account", scope=Scope.ACCOUNTS_READ, effect="read", now=NOW).allowed
    for scope, effect in ((Scope.ACCOUNTS_WRITE, "write"), (Scope.ACCOUNTS_DELETE, "destructive")):
        decision = authorize(grant, tool="t", scope=scope, effect=effect, now=NOW)
        assert not decision.allowed and decision.reason == "grant is read-only"


def test_deny_list_beats_allow_list_and_allow_list_restricts() -> None:
    grant = _grant(
        Scope.ACCOUNTS_READ,
        allow_tools=frozenset({"get_account", "list_accounts"}),
        deny_tools=frozenset({"list_accounts"}),
    )
    allowed = authorize(grant, tool="get_account", scope=Scope.ACCOUNTS_READ, effect="read", now=NOW)
    denied = authorize(grant, tool="list_accounts", scope=Scope.ACCOUNTS_READ, effect="read", now=NOW)
    outside = authorize(grant, tool="search_accounts", scope=Scope.ACCOUNTS_READ, effect="read", now=NOW)
    assert allowed.allowed
    assert not denied.allowed and "deny list" in denied.reason
    assert not outside.allowed and "allow list" in outside.reason


def test_an_empty_allow_list_allows_no_tool() -> None:
    grant = _grant(Scope.ACCOUNTS_READ, allow_tools=frozenset())
    assert not authorize(grant, tool="get_account", scope=Scope.ACCOUNTS_READ, effect="read", now=NOW).allowed


def test_jwt_scopes_only_narrow_the_grant() -> None:
    grant = _grant(Scope.ACCOUNTS_WRITE)
    narrowed = frozenset({Scope.ACCOUNTS_READ})
    widened = frozenset({Scope.ACCOUNTS_WRITE, Scope.ACCOUNTS_DELETE, Scope.PII_READ})
    assert effective_scopes(grant, narrowed) == {Scope.ACCOUNTS_READ}
    assert effective_scopes(grant, widened) == {Scope.ACCOUNTS_WRITE, Scope.ACCOUNTS_READ}
    write = authorize(
        grant, tool="t", scope=Scope.ACCOUNTS_WRITE, effect="write", now=NOW, jwt_scopes=narrowed
    )
    assert not write.allowed and write.missing_scope is Scope.ACCOUNTS_WRITE
    delete = authorize(
        grant, tool="t", scope=Scope.ACCOUNTS_DELETE, effect="destructive", now=NOW, jwt_scopes=widened
    )
    assert not delete.allowed and delete.missing_scope is Scope.ACCOUNTS_DELETE
    assert not authorize(
        grant, tool="t", scope=Scope.ACCOUNTS_READ, effect="read", now=NOW, jwt_scopes=frozenset()
    ).allowed


def test_unknown_effects_and_scopes_are_denied() -> None:
    grant = _grant(*Scope)
    assert not authorize(grant, tool="t", scope=Scope.ACCOUNTS_READ, effect="maybe", now=NOW).allowed
    assert not authorize(grant, tool="t", scope="accounts:read", effect="read", now=NOW).allowed  # type: ignore[arg-type]


def test_visible_lists_exactly_the_allowed_tools_in_order() -> None:
    tools = [_Tool(f"tool_{s.name.lower()}", s, _effect_of(s)) for s in Scope]
    grant = _grant(Scope.INQUIRIES_WRITE, Scope.EVENTS_READ, deny_tools=frozenset({"tool_events_read"}))
    names = [t.name for t in visible(grant, tools, now=NOW)]
    assert names == ["tool_inquiries_read", "tool_inquiries_write"]
