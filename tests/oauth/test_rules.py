"""The pure rules behind the authorization server: redirect URIs (RFC 8252) and the consent offer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from persona_mcp.auth.environment import Environment
from persona_mcp.auth.grant import Grant, PrincipalKind
from persona_mcp.auth.oauth.clients import redirect_uri_problem, same_redirect
from persona_mcp.auth.oauth.consent import offer_for
from persona_mcp.auth.scopes import Scope


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example/cb",
        "http://127.0.0.1:6274/cb",
        "http://[::1]/cb",
        "http://localhost:6274/oauth/callback",
        "cursor://anysphere.cursor-retrieval/oauth/callback",
        "com.example.app:/callback",
    ],
)
def test_registrable_redirect_uris(uri: str) -> None:
    assert redirect_uri_problem(uri) is None


@pytest.mark.parametrize(
    "uri",
    [
        "http://evil.example/cb",
        "javascript:alert(1)",
        "data:text/html,x",
        "https://app.example/cb#frag",
        "file:///etc/passwd",
        "ftp://host/cb",
    ],
)
def test_refused_redirect_uris(uri: str) -> None:
    assert redirect_uri_problem(uri) is not None


def test_only_a_loopback_literal_may_change_its_port() -> None:
    assert same_redirect("http://127.0.0.1:1/cb", "http://127.0.0.1:2/cb")
    assert same_redirect("http://[::1]:1/cb", "http://[::1]:9/cb")
    assert not same_redirect("http://127.0.0.1:1/cb", "http://127.0.0.1:2/other")
    assert not same_redirect("http://localhost:1/cb", "http://localhost:2/cb")
    assert not same_redirect("https://app.example:1/cb", "https://app.example:2/cb")
    assert not same_redirect("http://127.0.0.1:1/cb", "http://127.0.0.2:1/cb")


def _grant(*scopes: Scope) -> Grant:
    now = datetime.now(UTC)
    return Grant(
        id="grt_1",
        principal="p",
        principal_kind=PrincipalKind.PERSON,
        environment=Environment.SANDBOX,
        scopes=frozenset(scopes),
        expires_at=None,
        created_at=now,
        updated_at=now,
    )


def test_the_offer_never_widens_the_grant_and_sensitive_scopes_start_unticked() -> None:
    grant = _grant(Scope.INQUIRIES_WRITE, Scope.PII_READ, Scope.INQUIRIES_DECIDE)
    offer = offer_for(["inquiries:read", "pii:read", "inquiries:decide", "webhooks:read", "openid"], grant)
    assert offer.offered == (Scope.INQUIRIES_READ, Scope.PII_READ, Scope.INQUIRIES_DECIDE), (
        "read implied by write"
    )
    assert offer.withheld == ("webhooks:read", "openid")
    assert offer.preticked(Scope.INQUIRIES_READ)
    assert not offer.preticked(Scope.PII_READ) and not offer.preticked(Scope.INQUIRIES_DECIDE)
    assert offer.granted(["inquiries:read", "webhooks:read", "accounts:delete"]) == {Scope.INQUIRIES_READ}


def test_no_requested_scope_offers_the_grant() -> None:
    offer = offer_for(None, _grant(Scope.ACCOUNTS_READ, Scope.PII_READ))
    assert set(offer.offered) == {Scope.ACCOUNTS_READ, Scope.PII_READ} and offer.withheld == ()
