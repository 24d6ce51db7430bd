from persona_mcp.auth.credentials.permissions import (
    excess_permissions,
    missing_permissions,
    required_permissions,
)
from persona_mcp.auth.scopes import Scope


def test_a_key_with_exactly_what_the_scopes_need_has_no_excess() -> None:
    scopes = {Scope.ACCOUNTS_WRITE, Scope.INQUIRIES_DECIDE}
    key = {"account.read", "account.write", "inquiry.write"}
    assert excess_permissions(key, scopes) == frozenset()
    assert missing_permissions(key, scopes) == frozenset()


def test_permissions_no_scope_needs_are_reported_as_excess() -> None:
    key = {"account.read", "webhook.write", "api_key.write", "case.read"}
    assert excess_permissions(key, {Scope.ACCOUNTS_READ}) == {"webhook.write", "api_key.write", "case.read"}


def test_write_scopes_count_their_implied_read_permission() -> None:
    assert required_permissions({Scope.LISTS_WRITE}) == {"list.read", "list.write"}


def test_server_only_scopes_need_no_persona_permission() -> None:
    assert required_permissions({Scope.PII_READ, Scope.AUDIT_READ}) == frozenset()
    assert excess_permissions({"event.read"}, {Scope.PII_READ}) == {"event.read"}


def test_missing_permissions_name_what_the_key_lacks() -> None:
    assert missing_permissions({"account.read"}, {Scope.EVENTS_READ, Scope.ACCOUNTS_READ}) == {"event.read"}
