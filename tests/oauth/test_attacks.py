"""The built-in authorization server refuses what an attacker or a broken client tries, each over HTTP.

PKCE downgrade, redirect URI mismatch, code replay, refresh-token replay (the family dies and it is
audited), audience mismatch, expired access token, revoked grant, revoked client, CSRF-less consent
POST, sign-in brute force; and the narrowing of tokens to the requested scopes and to the grant.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select, update

from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.auth.grant import PrincipalKind
from persona_mcp.config import AuthorizationServerSettings
from persona_mcp.store.schema.oauth import oauth_authorizations, oauth_codes, oauth_tokens
from persona_mcp.testing import issue_grant

from ._flow import (
    ACCEPT,
    INITIALIZE,
    REDIRECT,
    Person,
    Running,
    authorize_url,
    consented_code,
    exchange,
    forms_of,
    oauth_server,
    opens_session,
    pkce,
    redirect_params,
    refresh,
    register,
)

pytestmark = pytest.mark.anyio

PERSON = "bob@example.com"
GRANTED = ["inquiries:read", "accounts:read", "pii:read", "inquiries:decide"]


@pytest.fixture
async def server(tmp_path: Path, database_url: str) -> AsyncIterator[Running]:
    """On SQLite and on PostgreSQL (its own schema)."""
    async with oauth_server(tmp_path, database_url=database_url) as running:
        yield running


@pytest.fixture
async def grant_token(server: Running) -> str:
    return await issue_grant(server.app, GRANTED, principal=PERSON, principal_kind=PrincipalKind.PERSON)


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(follow_redirects=False, timeout=30) as client:
        yield client


async def _events(server: Running, action: str) -> list[Any]:
    return [r async for r in iter_records(server.app.store, AuditFilter(kind=f"admin.{action}"))]


async def _tokens(
    http: httpx2.AsyncClient, server: Running, grant_token: str, **kw: Any
) -> tuple[str, dict[str, Any]]:
    client_id = (await register(http, server.base))["client_id"]
    code, verifier = await consented_code(server, client_id, grant_token, **kw)
    answer = await exchange(http, server, client_id, code, verifier)
    assert answer.status_code == 200, answer.text
    tokens: dict[str, Any] = answer.json()
    return client_id, tokens


# -- PKCE ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["plain", None])
async def test_pkce_downgrade_is_refused(
    server: Running, http: httpx2.AsyncClient, method: str | None
) -> None:
    client_id = (await register(http, server.base))["client_id"]
    verifier, _challenge = pkce()
    # plain: the challenge is the verifier itself; none: no challenge at all.
    url = authorize_url(
        server.base, client_id, verifier if method == "plain" else None, method=method, resource=server.mcp
    )
    answer = await http.get(url)
    assert answer.status_code == 302
    params = redirect_params(answer.headers["location"])
    assert answer.headers["location"].startswith(REDIRECT), "back to the client, never to the consent page"
    assert params["error"] == "invalid_request" and "code" not in params


async def test_token_exchange_without_the_verifier_is_refused(
    server: Running, http: httpx2.AsyncClient, grant_token: str
) -> None:
    client_id = (await register(http, server.base))["client_id"]
    code, _verifier = await consented_code(server, client_id, grant_token)
    wrong = await exchange(http, server, client_id, code, pkce()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"


# -- redirect URIs --------------------------------------------------------------------------------


async def test_redirect_uri_mismatch_is_refused_without_redirecting(
    server: Running, http: httpx2.AsyncClient
) -> None:
    client_id = (await register(http, server.base))["client_id"]
    _verifier, challenge = pkce()
    for evil in (
        "https://evil.example/callback",
        "http://127.0.0.1:53682/callback/../steal",
        "http://localhost:53682/callback",
    ):
        answer = await http.get(authorize_url(server.base, client_id, challenge, redirect=evil))
        assert answer.status_code == 400, evil
        assert "location" not in answer.headers
        assert answer.json()["error"] == "invalid_request"


async def test_a_loopback_redirect_may_change_its_port_only(
    server: Running, http: httpx2.AsyncClient, grant_token: str
) -> None:
    client_id = (await register(http, server.base))["client_id"]
    other_port = "http://127.0.0.1:40001/callback"
    code, verifier = await consented_code(server, client_id, grant_token, redirect=other_port)
    # The code is bound to the redirect URI it was issued for.
    mismatch = await exchange(http, server, client_id, code, verifier, redirect=REDIRECT)
    assert mismatch.status_code == 400
    assert (
        await exchange(http, server, client_id, code, verifier, redirect=other_port)
    ).status_code == 200, "exchanged with the URI it was issued for"


async def test_registration_refuses_plain_http_to_another_host(
    server: Running, http: httpx2.AsyncClient
) -> None:
    answer = await http.post(
        f"{server.base}/register",
        json={
            "client_name": "x",
            "redirect_uris": ["http://evil.example/cb"],
            "token_endpoint_auth_method": "none",
        },
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_redirect_uri"


# -- replays --------------------------------------------------------------------------------------


async def test_code_replay_is_refused_and_revokes_what_the_code_gave(
    server: Running, http: httpx2.AsyncClient, grant_token: str
) -> None:
    client_id = (await register(http, server.base))["client_id"]
    code, verifier = await consented_code(server, client_id, grant_token)
    first = await exchange(http, server, client_id, code, verifier)
    assert first.status_code == 200
    access = first.json()["access_token"]
    assert await opens_session(http, server, access) == 200
    replay = await exchange(http, server, client_id, code, verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert await opens_session(http, server, access) == 401
    assert (await refresh(http, server, client_id, first.json()["refresh_token"])).status_code == 400
    (event,) = await _events(server, "oauth.code_replayed")
    assert event.details["family_revoked"] is True and event.details["client_id"] == client_id


async def test_refresh_token_replay_revokes_the_whole_family_and_is_audited(
    server: Running, http: httpx2.AsyncClient, grant_token: str
) -> None:
    client_id, tokens = await _tokens(http, server, grant_token)
    rotated = await refresh(http, server, client_id, tokens["refresh_token"])
    assert rotated.status_code == 200
    new = rotated.json()
    assert new["refresh_token"] != tokens["refresh_token"] and new["access_token"] != tokens["access_token"]
    assert await opens_session(http, server, new["access_token"]) == 200

    replay = await refresh(http, server, client_id, tokens["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # The whole family is gone: the newest access and refresh tokens too.
    assert await opens_session(http, server, new["access_token"]) == 401
    assert (await refresh(http, server, client_id, new["refresh_token"])).status_code == 400
    (event,) = await _events(server, "oauth.refresh_replayed")
    assert event.details["family_revoked"] is True
    assert event.details["grant_id"] == (await _events(server, "oauth.token_issued"))[0].details["grant_id"]


# -- audience, expiry, revocation -----------------------------------------------------------------


async def test_a_token_for_another_resource_is_never_issued(
    server: Running, http: httpx2.AsyncClient
) -> None:
    client_id = (await register(http, server.base))["client_id"]
    _verifier, challenge = pkce()
    answer = await http.get(
        authorize_url(server.base, client_id, challenge, resource="https://other.example/mcp")
    )
    assert answer.status_code == 302
    assert redirect_params(answer.headers["location"])["error"] == "invalid_target"


async def test_a_token_whose_audience_is_not_this_server_is_refused(tmp_path: Path) -> None:
    async with httpx2.AsyncClient(follow_redirects=False, timeout=30) as http:
        async with oauth_server(tmp_path) as first:
            token = await issue_grant(first.app, GRANTED, principal=PERSON)
            _client, tokens = await _tokens(http, first, token)
            assert await opens_session(http, first, tokens["access_token"]) == 200
            port = int(first.base.rsplit(":", 1)[1])
        # Same database, now serving under another public URL: the old audience is not accepted.
        async with oauth_server(tmp_path, port=port, public_url=f"http://localhost:{port}/mcp") as moved:
            assert await opens_session(http, moved, tokens["access_token"]) == 401


async def test_an_expired_access_token_is_refused(
    server: Running, http: httpx2.AsyncClient, grant_token: str
) -> None:
    _client, tokens = await _tokens(http, server, grant_token)
    assert tokens["expires_in"] <= 900
    assert await opens_session(http, server, tokens["access_token"]) == 200
    await server.expire_access_tokens()
    answer_status = await opens_session(http, server, tokens["access_token"])
    assert answer_status == 401


async def test_revoking_the_grant_kills_its_tokens(
    server: Running, http: httpx2.AsyncClient, grant_token: str
) -> None:
    client_id, tokens = await _tokens(http, server, grant_token)
    assert await opens_session(http, server, tokens["access_token"]) == 200
    (grant,) = [g for g in await server.app.grants.list_all() if g.principal == PERSON]
    await server.app.grants.revoke(grant.id, actor="test")
    assert await opens_session(http, server, tokens["access_token"]) == 401
    refused = await refresh(http, server, client_id, tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


async def test_revoking_the_client_kills_its_tokens(
    server: Running, http: httpx2.AsyncClient, grant_token: str
) -> None:
    client_id, tokens = await _tokens(http, server, grant_token)
    assert server.app.authorization is not None
    await server.app.authorization.clients.revoke(client_id, actor="admin")
    assert await opens_session(http, server, tokens["access_token"]) == 401
    assert (await refresh(http, server, client_id, tokens["refresh_token"])).status_code == 401
    assert await _events(server, "oauth.client_revoked")


async def test_rfc7009_revocation_of_the_refresh_token_kills_the_family(
    server: Running, http: httpx2.AsyncClient, grant_token: str
) -> None:
    client_id, tokens = await _tokens(http, server, grant_token)
    answer = await http.post(
        f"{server.base}/revoke",
        data={
            "token": tokens["refresh_token"],
            "client_id": client_id,
            "client_secret": "",
            "token_type_hint": "refresh_token",
        },
    )
    assert answer.status_code == 200
    assert await opens_session(http, server, tokens["access_token"]) == 401
    (event,) = await _events(server, "oauth.token_revoked")
    assert event.details["kind"] == "refresh"


async def test_a_public_client_revokes_with_its_client_id_alone(
    server: Running, http: httpx2.AsyncClient, grant_token: str
) -> None:
    """RFC 7009 section 2.1: a public client sends no secret; a confidential one still must."""
    client_id, tokens = await _tokens(http, server, grant_token)
    bearer = {**ACCEPT, "Authorization": f"Bearer {tokens['access_token']}"}
    assert (await http.post(server.mcp, json=INITIALIZE, headers=bearer)).status_code == 200  # now cached
    answer = await http.post(
        f"{server.base}/revoke",
        data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token", "client_id": client_id},
    )
    assert answer.status_code == 200, answer.text
    # Refused on the very next call: the revocation dropped the cached resolution (no `forget` here).
    assert (await http.post(server.mcp, json=INITIALIZE, headers=bearer)).status_code == 401

    confidential = await register(http, server.base, auth_method="client_secret_post")
    refused = await http.post(
        f"{server.base}/revoke", data={"token": "pmat_whatever", "client_id": confidential["client_id"]}
    )
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized_client"


# -- the consent page ------------------------------------------------------------------------------


async def _signed_in(
    server: Running, http: httpx2.AsyncClient, grant_token: str, **kw: Any
) -> tuple[str, httpx2.Response, str]:
    """(consent URL, consent page after sign-in, client id), in `http`'s cookie jar."""
    client_id = (await register(http, server.base, **kw))["client_id"]
    _verifier, challenge = pkce()
    answer = await http.get(authorize_url(server.base, client_id, challenge, resource=server.mcp))
    consent_url = server.base + answer.headers["location"].removeprefix(server.base)
    page = await http.get(consent_url)
    (form,) = forms_of(page.text)
    data = {name: values[0] for name, values in form.fields.items()} | {"grant_token": grant_token}
    signed_in = await http.post(f"{server.base}/oauth/consent", data=data)
    assert signed_in.status_code == 200, signed_in.text
    return consent_url, signed_in, client_id


async def _codes(server: Running) -> int:
    async with server.app.store.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(oauth_codes))).scalar_one())


async def test_a_consent_post_without_csrf_changes_nothing(
    server: Running, http: httpx2.AsyncClient, grant_token: str
) -> None:
    _url, page, _client = await _signed_in(server, http, grant_token)
    (form,) = forms_of(page.text)
    fields = {name: values[0] for name, values in form.fields.items()}
    allow = fields | {"scope": ["inquiries:read"], "decision": "allow"}
    without_field = {key: value for key, value in allow.items() if key != "csrf"}
    assert (await http.post(f"{server.base}/oauth/consent", data=without_field)).status_code == 403
    # The right field but no cookie (a cross-site form post carries none: SameSite=Strict).
    async with httpx2.AsyncClient(follow_redirects=False) as other_site:
        assert (await other_site.post(f"{server.base}/oauth/consent", data=allow)).status_code == 403
    assert await _codes(server) == 0
    # The genuine form still works afterwards.
    answer = await http.post(f"{server.base}/oauth/consent", data=allow)
    assert answer.status_code == 303 and "code" in redirect_params(answer.headers["location"])


async def test_sign_in_brute_force_is_rate_limited_and_audited(tmp_path: Path) -> None:
    limits = AuthorizationServerSettings(login_attempts=3, login_window_seconds=600)
    async with (
        oauth_server(tmp_path, authorization=limits) as server,
        httpx2.AsyncClient(follow_redirects=False) as http,
    ):
        real = await issue_grant(server.app, GRANTED, principal=PERSON)
        client_id = (await register(http, server.base))["client_id"]
        _verifier, challenge = pkce()
        location = (await http.get(authorize_url(server.base, client_id, challenge))).headers["location"]
        page = await http.get(location if location.startswith("http") else server.base + location)
        statuses = []
        for attempt in range(4):
            (form,) = forms_of(page.text)
            data = {name: values[0] for name, values in form.fields.items()}
            page = await http.post(
                f"{server.base}/oauth/consent", data=data | {"grant_token": f"pmcp_{attempt:016x}_guess"}
            )
            statuses.append(page.status_code)
        assert statuses == [401, 401, 401, 429]
        assert int(page.headers["retry-after"]) > 0
        # Locked out even with the right token while the window lasts.
        page = await http.get(location if location.startswith("http") else server.base + location)
        (form,) = forms_of(page.text)
        data = {name: values[0] for name, values in form.fields.items()} | {"grant_token": real}
        assert (await http.post(f"{server.base}/oauth/consent", data=data)).status_code == 429
        assert len(await _events(server, "oauth.sign_in_failed")) == 3


async def test_consent_is_the_intersection_of_request_grant_and_ticks(
    server: Running, http: httpx2.AsyncClient, grant_token: str
) -> None:
    # Requested: a granted scope, a tick-only granted scope, and one outside the grant.
    client_id = (await register(http, server.base))["client_id"]
    code, verifier = await consented_code(
        server, client_id, grant_token, scope="inquiries:read inquiries:decide webhooks:read"
    )
    tokens = (await exchange(http, server, client_id, code, verifier)).json()
    assert tokens["scope"] == "inquiries:read", "decide needs a tick; webhooks is outside the grant"
    code, verifier = await consented_code(
        server,
        client_id,
        grant_token,
        scope="inquiries:read inquiries:decide",
        ticks={"inquiries:decide": True},
    )
    tokens = (await exchange(http, server, client_id, code, verifier)).json()
    assert set(tokens["scope"].split()) == {"inquiries:read", "inquiries:decide"}
    (given, _second) = await _events(server, "oauth.consent_given")
    assert given.details["scopes"] == ["inquiries:read"] and given.details["person"] == PERSON


async def test_a_refused_consent_goes_back_with_access_denied_and_is_audited(
    server: Running, http: httpx2.AsyncClient, grant_token: str
) -> None:
    client_id = (await register(http, server.base))["client_id"]
    _verifier, challenge = pkce()
    person = Person(grant_token, decision="deny")
    await person.authorize(authorize_url(server.base, client_id, challenge, state="s-42"))
    assert person.redirect is not None
    params = redirect_params(person.redirect)
    assert params["error"] == "access_denied" and params["state"] == "s-42" and "code" not in params
    (event,) = await _events(server, "oauth.consent_refused")
    assert event.details["client_id"] == client_id


async def test_pages_escape_client_names_and_forbid_framing(
    server: Running, http: httpx2.AsyncClient, grant_token: str
) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    _url, page, _client = await _signed_in(server, http, grant_token, name=evil)
    assert "<script>" not in page.text and "<img" not in page.text
    assert "&lt;script&gt;" in page.text
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src" not in csp and "default-src 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    unknown = await http.get(f"{server.base}/oauth/consent", params={"request": "<b>pmcr_x</b>"})
    assert unknown.status_code == 400 and "<b>" not in unknown.text and "pmcr_x" not in unknown.text


#: Markup a caller could smuggle into any value it chooses.
XSS = '"><script>alert(1)</script><img src=x onerror=alert(1)>'

#: Every value a caller (the client, or the browser's user) chooses that can reach a page of the flow.
CALLER_CHOSEN = [
    "client_name",
    "redirect_uri",
    "client_id",
    "state",
    "scope",
    "resource",
    "code_challenge",
    "request",
    "csrf",
    "step",
    "grant_token",
    "decision",
    "ticked_scope",
]


def _assert_not_reflected(answer: httpx2.Response, where: str) -> None:
    """No answer renders the markup: HTML carries it escaped or not at all, and a JSON error (never
    rendered: `nosniff`) or a redirect carries it only encoded."""
    kind = answer.headers.get("content-type", "")
    if "<script>" in answer.text or "<img" in answer.text:
        assert kind.startswith("application/json"), f"{where}: {answer.status_code} {kind} reflects markup"
    assert "<" not in answer.headers.get("location", ""), where


async def _walk_with(
    server: Running, http: httpx2.AsyncClient, grant_token: str, poisoned: str
) -> list[httpx2.Response]:
    """The whole flow, with `poisoned` set to the markup: registration, authorize, the sign-in page, a
    failed sign-in, the sign-in, the consent page and the answer; it stops at the first refusal."""

    def value(name: str, normal: str) -> str:
        return XSS if poisoned == name else normal

    seen: list[httpx2.Response] = []
    redirect = REDIRECT + ("?next=" + XSS if poisoned == "redirect_uri" else "")
    registered = await http.post(
        f"{server.base}/register",
        json={
            "client_name": value("client_name", "Raw client"),
            "redirect_uris": [redirect],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        },
    )
    seen.append(registered)
    if registered.status_code != 201:
        return seen
    _verifier, challenge = pkce()
    scope = "inquiries:read " + XSS if poisoned == "scope" else None
    answer = await http.get(
        authorize_url(
            server.base,
            value("client_id", registered.json()["client_id"]),
            value("code_challenge", challenge),
            redirect=redirect,
            scope=scope,
            resource=value("resource", server.mcp),
            state=value("state", "state-1"),
        )
    )
    seen.append(answer)
    if answer.status_code != 302 or "/oauth/consent" not in answer.headers["location"]:
        return seen
    consent_url = server.base + answer.headers["location"].removeprefix(server.base)
    if poisoned == "request":
        seen.append(await http.get(f"{server.base}/oauth/consent", params={"request": XSS}))
    page = await http.get(consent_url)
    seen.append(page)
    if page.status_code != 200:
        return seen
    (form,) = forms_of(page.text)
    data = {name: values[0] for name, values in form.fields.items()}
    for name in ("request", "csrf", "step"):
        data[name] = value(name, data[name])
    failed = await http.post(
        f"{server.base}/oauth/consent", data=data | {"grant_token": value("grant_token", "x")}
    )
    seen.append(failed)
    if failed.status_code != 401:
        return seen
    (form,) = forms_of(failed.text)
    data = {name: values[0] for name, values in form.fields.items()} | {"grant_token": grant_token}
    signed_in = await http.post(f"{server.base}/oauth/consent", data=data)
    seen.append(signed_in)
    if signed_in.status_code != 200:
        return seen
    (form,) = forms_of(signed_in.text)
    ticked = [name for name, on in form.checkboxes.items() if on]
    body: dict[str, Any] = {name: values[0] for name, values in form.fields.items()}
    body |= {
        "scope": ticked + ([XSS] if poisoned == "ticked_scope" else []),
        "decision": value("decision", "allow"),
    }
    seen.append(await http.post(f"{server.base}/oauth/consent", data=body))
    return seen


@pytest.mark.parametrize("poisoned", CALLER_CHOSEN)
async def test_no_page_of_the_flow_reflects_a_caller_chosen_value_unescaped(
    server: Running, http: httpx2.AsyncClient, grant_token: str, poisoned: str
) -> None:
    seen = await _walk_with(server, http, grant_token, poisoned)
    assert seen
    for index, answer in enumerate(seen):
        _assert_not_reflected(answer, f"{poisoned}, answer {index} ({answer.request.url.path})")
    pages = [a for a in seen if a.headers.get("content-type", "").startswith("text/html")]
    for page in pages:
        assert page.headers["content-security-policy"].startswith("default-src 'none'")


async def test_no_token_in_any_url_but_the_code_redirect(
    server: Running, http: httpx2.AsyncClient, grant_token: str
) -> None:
    _url, page, _client = await _signed_in(server, http, grant_token)
    (form,) = forms_of(page.text)
    assert form.method == "post" and "?" not in form.action
    assert grant_token not in page.text, "the grant token is never echoed back"


async def test_expired_codes_tokens_and_answered_requests_are_swept(
    server: Running, http: httpx2.AsyncClient, grant_token: str
) -> None:
    await _tokens(http, server, grant_token)
    long_ago = datetime.now(UTC) - timedelta(days=2)
    async with server.app.store.engine.begin() as conn:
        await conn.execute(update(oauth_tokens).values(expires_at=long_ago))
        await conn.execute(update(oauth_codes).values(expires_at=long_ago))

    async def count(table: Any) -> int:
        async with server.app.store.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())

    assert await count(oauth_tokens) == 2 and await count(oauth_authorizations) == 1
    client_id = (await register(http, server.base))["client_id"]
    _verifier, challenge = pkce()
    assert (await http.get(authorize_url(server.base, client_id, challenge))).status_code == 302
    assert await count(oauth_tokens) == 0 and await count(oauth_codes) == 0
    assert await count(oauth_authorizations) == 1, "only the request just made is left"
