"""Each scope is declared once, as one row; the older views of the vocabulary are read from the rows."""

from __future__ import annotations

import inspect

from persona_mcp.auth import scopes
from persona_mcp.auth.scopes import (
    DEFAULT_READ_ONLY,
    DESCRIPTIONS,
    IMPLIES,
    PERSONA_PERMISSIONS,
    Scope,
    ScopeRow,
)


def test_every_scope_is_one_row_with_every_column() -> None:
    for scope in Scope:
        assert scope.description.endswith(".") and scope.value.count(":") == 1
        assert isinstance(scope.persona_permissions, frozenset)
        assert isinstance(scope.read_only_default, bool)
    assert set(ScopeRow._fields) == {
        "name",
        "description",
        "persona_permissions",
        "implies",
        "read_only_default",
    }
    # One declaration each: the module writes no per-scope dictionary beside the rows.
    source = inspect.getsource(scopes)
    assert source.count('"accounts:read"') == 1


def test_the_views_are_the_rows() -> None:
    assert {scope: scope.description for scope in Scope} == DESCRIPTIONS
    assert {scope: scope.persona_permissions for scope in Scope} == PERSONA_PERMISSIONS
    assert {scope: scope.implies for scope in Scope if scope.implies} == IMPLIES
    assert {scope for scope in Scope if scope.read_only_default} == DEFAULT_READ_ONLY


def test_write_implies_only_the_read_scope_of_its_family_and_nothing_implies_delete_or_decide() -> None:
    for scope, implied in IMPLIES.items():
        assert scope.value.endswith(":write")
        assert implied == {Scope(f"{scope.family}:read")}
    implied_anywhere = set().union(*IMPLIES.values())
    assert not {s for s in implied_anywhere if s.value.endswith((":delete", ":decide"))}


def test_the_default_grant_reads_and_never_sees_personal_data_or_the_audit_log() -> None:
    assert DEFAULT_READ_ONLY and all(scope.value.endswith(":read") for scope in DEFAULT_READ_ONLY)
    assert Scope.PII_READ not in DEFAULT_READ_ONLY and Scope.AUDIT_READ not in DEFAULT_READ_ONLY


def test_a_scope_is_looked_up_by_its_name() -> None:
    assert Scope("inquiries:decide") is Scope.INQUIRIES_DECIDE
    assert str(Scope.PII_READ) == "pii:read" and Scope.PII_READ == "pii:read"
