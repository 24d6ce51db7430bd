from __future__ import annotations

import pytest
from auth_helpers import Clock, Issuer
from joserfc.jwk import OctKey, RSAKey

from persona_mcp.auth.callers import CallerResolver
from persona_mcp.auth.environment import Environment
from persona_mcp.auth.grant import GrantDraft
from persona_mcp.auth.grants import GrantStore
from persona_mcp.auth.jwt import JwtVerifier
from persona_mcp.auth.scopes import Scope
from persona_mcp.auth.settings import OAuthSettings

pytestmark = pytest.mark.anyio

NOW = 1_780_000_000.0


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


def _verifier(issuer: Issuer, **settings: object) -> JwtVerifier:
    config = OAuthSettings(
        issuer=Issuer.ISSUER, jwks_url=Issuer.JWKS_URL, resource_url=Issuer.RESOURCE, **settings
    )
    return JwtVerifier(config, transport=issuer.transport(), clock=lambda: NOW)


@pytest.mark.parametrize(("kid", "alg"), [("rsa-1", "RS256"), ("ec-1", "ES256"), ("ed-1", "EdDSA")])
async def test_a_token_for_this_resource_is_accepted_with_its_claims(
    issuer: Issuer, kid: str, alg: str
) -> None:
    token = issuer.token(
        kid=kid,
        alg=alg,
        now=NOW,
        scope="accounts:read openid inquiries:decide",
        client_id="desk-app",
        act={"sub": "agent-7"},
    )
    verified = await _verifier(issuer).verify(token)
    assert verified is not None
    assert (verified.principal, verified.subject, verified.client_id, verified.actor) == (
        "alice",
        "alice",
        "desk-app",
        "agent-7",
    )
    assert verified.scopes == {Scope.ACCOUNTS_READ, Scope.INQUIRIES_DECIDE}


async def test_scp_and_azp_are_read_when_scope_and_client_id_are_absent(issuer: Issuer) -> None:
    token = issuer.token(now=NOW, scp=["lists:write"], azp="web-client")
    verified = await _verifier(issuer).verify(token)
    assert verified is not None
    assert verified.scopes == {Scope.LISTS_WRITE} and verified.client_id == "web-client"


async def test_a_token_for_another_audience_is_refused(issuer: Issuer) -> None:
    assert await _verifier(issuer).verify(issuer.token(now=NOW, aud="https://other.example.test/mcp")) is None
    assert await _verifier(issuer).verify(issuer.token(now=NOW, aud=None)) is None


async def test_a_token_from_another_issuer_is_refused(issuer: Issuer) -> None:
    assert await _verifier(issuer).verify(issuer.token(now=NOW, iss="https://evil.example.test/")) is None


async def test_expired_and_not_yet_valid_tokens_are_refused_beyond_the_leeway(issuer: Issuer) -> None:
    verifier = _verifier(issuer, leeway_seconds=30)
    assert await verifier.verify(issuer.token(now=NOW - 400, lifetime=300)) is None  # expired 100 s ago
    assert await verifier.verify(issuer.token(now=NOW - 310, lifetime=300)) is not None  # within leeway
    assert await verifier.verify(issuer.token(now=NOW, nbf=int(NOW) + 120)) is None
    assert await verifier.verify(issuer.token(now=NOW + 120)) is None  # issued in the future
    assert await verifier.verify(issuer.token(now=NOW, exp=None)) is None


async def test_an_unknown_kid_is_refused_after_one_refetch(issuer: Issuer) -> None:
    verifier = _verifier(issuer)
    stranger = RSAKey.generate_key(2048, parameters={"kid": "rsa-9"})
    assert await verifier.verify(issuer.token(now=NOW)) is not None
    assert issuer.jwks_requests == 1
    assert await verifier.verify(issuer.token(kid="rsa-9", key=stranger, now=NOW)) is None
    assert issuer.jwks_requests == 1  # refetch is rate limited: the keys were fetched just now


async def test_a_rotated_issuer_key_is_picked_up_by_refetching_on_unknown_kid(issuer: Issuer) -> None:
    verifier = _verifier(issuer, jwks_refetch_min_seconds=0)
    assert await verifier.verify(issuer.token(now=NOW)) is not None
    new_key = RSAKey.generate_key(2048, parameters={"kid": "rsa-2"})
    issuer.keys["rsa-2"] = new_key
    issuer.published.keys.append(new_key)
    assert await verifier.verify(issuer.token(kid="rsa-2", now=NOW)) is not None
    assert issuer.jwks_requests == 2


async def test_a_bad_signature_is_refused(issuer: Issuer) -> None:
    impostor = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
    assert await _verifier(issuer).verify(issuer.token(key=impostor, now=NOW)) is None
    token = issuer.token(now=NOW)
    header, payload, signature = token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    assert await _verifier(issuer).verify(f"{header}.{payload}.{flipped}") is None


async def test_symmetric_and_disallowed_algorithms_are_refused(issuer: Issuer) -> None:
    secret = OctKey.generate_key(256, parameters={"kid": "rsa-1"})
    assert await _verifier(issuer).verify(issuer.token(alg="HS256", key=secret, now=NOW)) is None
    assert await _verifier(issuer, algorithms=["ES256"]).verify(issuer.token(now=NOW)) is None


async def test_malformed_tokens_are_refused(issuer: Issuer) -> None:
    verifier = _verifier(issuer)
    for token in ("", "abc", "a.b.c", "pmcp_x", "é.é.é"):
        assert await verifier.verify(token) is None


@pytest.mark.parametrize("exp", [10**18, 2**63])
async def test_a_token_expiring_beyond_the_representable_calendar_is_refused_not_raised(
    issuer: Issuer, exp: int
) -> None:
    assert await _verifier(issuer).verify(issuer.token(now=NOW, exp=exp)) is None


def test_settings_refuse_unknown_algorithms() -> None:
    with pytest.raises(ValueError):
        OAuthSettings(algorithms=["HS256"])


async def _jwt_resolver(
    grant_store: GrantStore, issuer: Issuer, clock: Clock, **settings: object
) -> CallerResolver:
    return CallerResolver(grant_store, jwt=_verifier(issuer, **settings), clock=clock)


async def test_a_jwt_caller_acts_within_its_grant_narrowed_by_token_scopes(
    grant_store: GrantStore, issuer: Issuer, clock: Clock
) -> None:
    clock.now = clock.now.fromtimestamp(NOW, clock.now.tzinfo)
    grant = await grant_store.create(
        GrantDraft(
            principal="alice",
            environment=Environment.PRODUCTION,
            scopes=frozenset({Scope.ACCOUNTS_WRITE, Scope.PII_READ}),
        )
    )
    resolver = await _jwt_resolver(grant_store, issuer, clock)
    token = issuer.token(now=NOW, scope="accounts:read accounts:delete", client_id="ide", act={"sub": "bot"})
    caller = await resolver.resolve(token)
    assert caller is not None
    assert (caller.token_kind, caller.grant.id, caller.principal) == ("jwt", grant.grant.id, "alice")
    assert (caller.subject, caller.client_id, caller.actor) == ("alice", "ide", "bot")
    assert caller.effective_scopes == {
        Scope.ACCOUNTS_READ
    }  # delete is not in the grant, write not in the token
    assert caller.grant.environment is Environment.PRODUCTION


async def test_a_jwt_without_a_single_live_grant_is_refused(
    grant_store: GrantStore, issuer: Issuer, clock: Clock
) -> None:
    clock.now = clock.now.fromtimestamp(NOW, clock.now.tzinfo)
    resolver = await _jwt_resolver(grant_store, issuer, clock)
    token = issuer.token(now=NOW, scope="accounts:read")
    assert await resolver.resolve(token) is None  # no grant for alice
    first = await grant_store.create(GrantDraft(principal="alice", environment=Environment.SANDBOX))
    await grant_store.create(GrantDraft(principal="alice", environment=Environment.PRODUCTION))
    assert await resolver.resolve(token) is None  # two grants: ambiguous
    bound = await _jwt_resolver(grant_store, issuer, clock, environment=Environment.SANDBOX)
    caller = await bound.resolve(token)
    assert caller is not None and caller.grant.id == first.grant.id
    await grant_store.revoke(first.grant.id)
    assert (
        await (await _jwt_resolver(grant_store, issuer, clock, environment=Environment.SANDBOX)).resolve(
            token
        )
        is None
    )


async def test_a_configured_claim_names_the_principal(
    grant_store: GrantStore, issuer: Issuer, clock: Clock
) -> None:
    clock.now = clock.now.fromtimestamp(NOW, clock.now.tzinfo)
    await grant_store.create(GrantDraft(principal="alice@example.com", environment=Environment.SANDBOX))
    resolver = await _jwt_resolver(grant_store, issuer, clock, principal_claim="email")
    caller = await resolver.resolve(
        issuer.token(now=NOW, sub="u-123", email="alice@example.com", scope="events:read")
    )
    assert caller is not None and (caller.principal, caller.subject) == ("alice@example.com", "u-123")
    assert await resolver.resolve(issuer.token(now=NOW, sub="alice@example.com")) is None  # claim missing
