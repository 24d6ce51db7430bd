"""The sandbox's token endpoint: grants, client authentication, rotation and reuse detection."""

import base64
from collections.abc import AsyncIterator

import httpx2
import pytest
from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign
from joserfc.jwk import ECKey, RSAKey

from persona_mcp.sandbox import SandboxConfig, create_app
from persona_mcp.sandbox.oauth import SandboxOAuth
from persona_mcp.sandbox.transport import SandboxTransport

from ._support import SANDBOX_ORIGIN, TOKEN_URL, FakeClock

pytestmark = pytest.mark.anyio

RSA_KEY = RSAKey.generate_key(2048)
EC_KEY = ECKey.generate_key("P-256")


def _public_pem(key: RSAKey | ECKey) -> str:
    return key.as_pem(private=False).decode()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def oauth(clock: FakeClock) -> SandboxOAuth:
    return SandboxOAuth(
        {
            "cli_secret": "s3cret",
            "cli_two": "2",
            "cli_rsa": _public_pem(RSA_KEY),
            "cli_ec": _public_pem(EC_KEY),
        },
        access_token_ttl=30,
        clock=clock.time,
    )


@pytest.fixture
async def http(oauth: SandboxOAuth) -> AsyncIterator[httpx2.AsyncClient]:
    app = create_app(SandboxConfig(token_issuer=oauth))
    async with httpx2.AsyncClient(transport=SandboxTransport(app), base_url=SANDBOX_ORIGIN) as client:
        yield client


async def _token(http: httpx2.AsyncClient, **form: str) -> httpx2.Response:
    return await http.post("/api/v1/oauth/token", data=form)


async def _accounts(http: httpx2.AsyncClient, token: str) -> int:
    response = await http.get("/api/v1/accounts", headers={"Authorization": f"Bearer {token}"})
    return response.status_code


async def test_client_secret_post_issues_an_oat_token_the_api_accepts_until_it_expires(
    http: httpx2.AsyncClient, oauth: SandboxOAuth, clock: FakeClock
) -> None:
    response = await _token(
        http, grant_type="client_credentials", client_id="cli_secret", client_secret="s3cret"
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["access_token"].startswith("oat_") and body["expires_in"] == 30
    assert await _accounts(http, body["access_token"]) == 200
    clock.advance(30)
    assert not oauth.accepts(body["access_token"])
    assert await _accounts(http, body["access_token"]) == 401


async def test_client_secret_basic_authenticates_and_a_wrong_secret_is_invalid_client(
    http: httpx2.AsyncClient,
) -> None:
    good = base64.b64encode(b"cli_secret:s3cret").decode()
    bad = base64.b64encode(b"cli_secret:wrong").decode()
    ok = await http.post(
        "/api/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {good}"},
    )
    refused = await http.post(
        "/api/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {bad}"},
    )
    assert ok.status_code == 200
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("client_id", "key", "alg"), [("cli_rsa", RSA_KEY, "RS256"), ("cli_ec", EC_KEY, "ES256")]
)
async def test_private_key_jwt_assertions_are_verified_against_the_registered_key(
    http: httpx2.AsyncClient, client_id: str, key: RSAKey | ECKey, alg: str, clock: FakeClock
) -> None:
    def assertion(signing_key: RSAKey | ECKey, lifetime: int = 300) -> str:
        now = int(clock.time())
        return private_key_jwt_sign(
            signing_key, client_id, TOKEN_URL, alg=alg, issued_at=now, expires_at=now + lifetime
        )

    def form(value: str) -> dict[str, str]:
        return {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": value,
        }

    valid = assertion(key)
    assert (await _token(http, **form(valid))).status_code == 200
    assert (await _token(http, **form(valid))).json()["error"] == "invalid_client"  # jti replay
    assert (await _token(http, **form(assertion(key, lifetime=301)))).status_code == 401
    other = RSAKey.generate_key(2048) if alg == "RS256" else ECKey.generate_key("P-256")
    assert (await _token(http, **form(assertion(other)))).status_code == 401


async def test_refresh_tokens_rotate_and_a_reused_one_revokes_the_whole_family(
    http: httpx2.AsyncClient, oauth: SandboxOAuth
) -> None:
    first = (
        await _token(http, grant_type="client_credentials", client_id="cli_secret", client_secret="s3cret")
    ).json()
    secret = {"client_id": "cli_secret", "client_secret": "s3cret"}
    second = (
        await _token(http, grant_type="refresh_token", refresh_token=first["refresh_token"], **secret)
    ).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert oauth.family_head(first["refresh_token"]) == second["refresh_token"]
    assert await _accounts(http, second["access_token"]) == 200

    replay = await _token(http, grant_type="refresh_token", refresh_token=first["refresh_token"], **secret)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert oauth.counters.reuse_detections == 1
    assert oauth.family_head(first["refresh_token"]) is None
    assert await _accounts(http, second["access_token"]) == 401
    after = await _token(http, grant_type="refresh_token", refresh_token=second["refresh_token"], **secret)
    assert after.json()["error"] == "invalid_grant"
    assert oauth.counters.refreshes == 1
    assert oauth.counters.requests_by_grant["refresh_token"] == 3
    assert oauth.counters.token_requests == 4


async def test_a_refresh_token_presented_by_another_client_is_invalid_grant(http: httpx2.AsyncClient) -> None:
    issued = (
        await _token(http, grant_type="client_credentials", client_id="cli_secret", client_secret="s3cret")
    ).json()
    stolen = await _token(
        http,
        grant_type="refresh_token",
        refresh_token=issued["refresh_token"],
        client_id="cli_two",
        client_secret="2",
    )
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"


async def test_an_unknown_grant_type_is_unsupported(http: httpx2.AsyncClient) -> None:
    response = await _token(http, grant_type="password", client_id="cli_secret", client_secret="s3cret")
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"


async def test_without_refresh_no_refresh_token_is_issued(clock: FakeClock) -> None:
    oauth = SandboxOAuth({"cli": "s"}, refresh=False, access_token_ttl=2.5, clock=clock.time)
    app = create_app(SandboxConfig(token_issuer=oauth))
    async with httpx2.AsyncClient(transport=SandboxTransport(app), base_url=SANDBOX_ORIGIN) as http:
        body = (
            await _token(http, grant_type="client_credentials", client_id="cli", client_secret="s")
        ).json()
    assert "refresh_token" not in body and body["expires_in"] == 2.5
