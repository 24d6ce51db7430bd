"""Signing in on the consent page through an upstream OpenID Connect provider instead of a grant token.

The provider is a small real one on a loopback socket: discovery, an authorization endpoint that
approves at once (it plays the person signing in there), a token endpoint checking PKCE and issuing an
RS256 ID token, and its JWKS. The person lands on the consent page of the one live grant whose principal
is their e-mail address; a wrong nonce, a forged state, or a principal without a grant is refused.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin

import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.auth.grant import PrincipalKind
from persona_mcp.config import AuthorizationServerSettings
from persona_mcp.server.serving import serving
from persona_mcp.testing import issue_grant

from ._flow import (
    Running,
    authorize_url,
    exchange,
    forms_of,
    oauth_server,
    opens_session,
    pkce,
    redirect_params,
    register,
)

pytestmark = pytest.mark.anyio

CLIENT_ID = "persona-mcp"
CLIENT_SECRET = "upstream-client-secret-0123456789"
CONSENT_GIVEN = "admin.oauth.consent_given"
SIGN_IN_FAILED = "admin.oauth.sign_in_failed"


@dataclass
class Provider:
    """An OpenID Connect provider whose user is `email`; `nonce_override` forges the ID token's nonce."""

    email: str
    base: str = ""
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    nonce_override: str | None = None

    def app(self) -> Starlette:
        async def discovery(request: Request) -> Response:
            return JSONResponse(
                {
                    "issuer": self.base,
                    "authorization_endpoint": f"{self.base}/authorize",
                    "token_endpoint": f"{self.base}/token",
                    "jwks_uri": f"{self.base}/jwks",
                }
            )

        async def authorize(request: Request) -> Response:
            q = request.query_params
            assert q["client_id"] == CLIENT_ID and q["code_challenge_method"] == "S256"
            assert "openid" in q["scope"].split()
            code = secrets.token_urlsafe(16)
            self.codes[code] = {"challenge": q["code_challenge"], "nonce": q["nonce"]}
            return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}")

        async def token(request: Request) -> Response:
            form = await request.form()
            granted = self.codes.pop(str(form["code"]), None)
            verifier = str(form.get("code_verifier", ""))
            challenge = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
            )
            if (
                granted is None
                or challenge != granted["challenge"]
                or form.get("client_secret") != CLIENT_SECRET
            ):
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            now = int(time.time())
            claims = {
                "iss": self.base,
                "aud": CLIENT_ID,
                "sub": "u-123",
                "email": self.email,
                "email_verified": True,
                "nonce": self.nonce_override or granted["nonce"],
                "iat": now,
                "exp": now + 300,
            }
            id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.key, algorithms=["RS256"])
            return JSONResponse({"access_token": "upstream-at", "token_type": "Bearer", "id_token": id_token})

        async def jwks(request: Request) -> Response:
            return JSONResponse(KeySet([self.key]).as_dict(private=False))

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", discovery),
                Route("/authorize", authorize),
                Route("/token", token, methods=["POST"]),
                Route("/jwks", jwks),
            ]
        )


@asynccontextmanager
async def _with_provider(
    tmp_path: Path, provider: Provider
) -> AsyncIterator[tuple[Running, httpx2.AsyncClient]]:
    async with serving(provider.app()) as base:
        provider.base = base
        settings = AuthorizationServerSettings(
            oidc_issuer=base,
            oidc_client_id=CLIENT_ID,
            oidc_client_secret=CLIENT_SECRET,
            oidc_display_name="Okta",
        )
        async with oauth_server(tmp_path, authorization=settings) as server:
            yield server


async def _through_upstream(server: Running, http: httpx2.AsyncClient) -> tuple[str, httpx2.Response, str]:
    """(client id, the page after the provider's redirect back, code verifier of the client)."""
    client_id = (await register(http, server.base))["client_id"]
    verifier, challenge = pkce()
    answer = await http.get(authorize_url(server.base, client_id, challenge, resource=server.mcp))
    page = await http.get(urljoin(server.base, answer.headers["location"]))
    assert "Sign in with Okta" in page.text
    upstream_form = next(f for f in forms_of(page.text) if f.fields.get("step") == ["upstream"])
    data = {name: values[0] for name, values in upstream_form.fields.items()}
    to_provider = await http.post(f"{server.base}/oauth/consent", data=data)
    assert to_provider.status_code == 303
    back = await http.get(to_provider.headers["location"])
    assert back.status_code == 307 or back.status_code == 302
    return client_id, await http.get(back.headers["location"]), verifier


async def test_a_person_signs_in_upstream_and_consents_within_their_grant(tmp_path: Path) -> None:
    provider = Provider(email="frank@example.com")
    async with (
        _with_provider(tmp_path, provider) as server,
        httpx2.AsyncClient(follow_redirects=False) as http,
    ):
        await issue_grant(server.app, ["inquiries:read", "accounts:read"], principal="frank@example.com")
        client_id, page, verifier = await _through_upstream(server, http)
        assert page.status_code == 200, page.text
        assert "frank@example.com" in page.text and "sandbox" in page.text
        (consent,) = forms_of(page.text)
        body: dict[str, Any] = {name: values[0] for name, values in consent.fields.items()}
        body |= {"scope": ["inquiries:read"], "decision": "allow"}
        answer = await http.post(f"{server.base}/oauth/consent", data=body)
        assert answer.status_code == 303
        code = redirect_params(answer.headers["location"])["code"]
        tokens = await exchange(http, server, client_id, code, verifier)
        assert tokens.status_code == 200 and tokens.json()["scope"] == "inquiries:read"
        assert await opens_session(http, server, tokens.json()["access_token"]) == 200
        given = [
            r async for r in iter_records(server.app.store, AuditFilter(kind="admin.oauth.consent_given"))
        ]
        assert given[0].details is not None and given[0].details["person"] == "frank@example.com"


async def test_a_forged_nonce_is_refused(tmp_path: Path) -> None:
    provider = Provider(email="frank@example.com", nonce_override="forged")
    async with (
        _with_provider(tmp_path, provider) as server,
        httpx2.AsyncClient(follow_redirects=False) as http,
    ):
        await issue_grant(server.app, ["inquiries:read"], principal="frank@example.com")
        _client, page, _verifier = await _through_upstream(server, http)
        assert page.status_code == 401 and "frank@example.com" not in page.text


async def test_a_principal_without_a_grant_is_refused(tmp_path: Path) -> None:
    provider = Provider(email="mallory@example.com")
    async with (
        _with_provider(tmp_path, provider) as server,
        httpx2.AsyncClient(follow_redirects=False) as http,
    ):
        await issue_grant(server.app, ["inquiries:read"], principal="frank@example.com")
        _client, page, _verifier = await _through_upstream(server, http)
        assert page.status_code == 401
        failed = [
            r async for r in iter_records(server.app.store, AuditFilter(kind="admin.oauth.sign_in_failed"))
        ]
        assert failed


async def test_a_forged_state_is_refused(tmp_path: Path) -> None:
    provider = Provider(email="frank@example.com")
    async with (
        _with_provider(tmp_path, provider) as server,
        httpx2.AsyncClient(follow_redirects=False) as http,
    ):
        await issue_grant(server.app, ["inquiries:read"], principal="frank@example.com")
        client_id = (await register(http, server.base))["client_id"]
        _verifier, challenge = pkce()
        answer = await http.get(authorize_url(server.base, client_id, challenge))
        page = await http.get(urljoin(server.base, answer.headers["location"]))
        upstream_form = next(f for f in forms_of(page.text) if f.fields.get("step") == ["upstream"])
        data = {name: values[0] for name, values in upstream_form.fields.items()}
        to_provider = await http.post(f"{server.base}/oauth/consent", data=data)
        back = await http.get(to_provider.headers["location"])
        forged = redirect_params(back.headers["location"]) | {"state": "forged"}
        landing = await http.get(f"{server.base}/oauth/consent/upstream?{urlencode(forged)}")
        assert landing.status_code == 403


async def test_a_person_signs_in_to_the_console_through_the_upstream_provider(tmp_path: Path) -> None:
    """The console's "Sign in with persona-mcp" reaches the same consent page, where the person signs in
    upstream; the console's session is then that person's, narrowed to what they allowed."""
    provider = Provider(email="frank@example.com")
    async with _with_provider(tmp_path, provider) as server:
        await issue_grant(
            server.app,
            ["audit:read", "console:admin"],
            principal="frank@example.com",
            principal_kind=PrincipalKind.PERSON,
        )
        async with httpx2.AsyncClient(base_url=server.base, follow_redirects=True, timeout=30) as http:
            signin = await http.get("/console/signin")
            (csrf,) = forms_of(signin.text)[0].fields["csrf"]
            page = await http.post("/console/oauth/start", data={"csrf": csrf})
            assert page.url.path == "/oauth/consent" and "Sign in with Okta" in page.text
            upstream_form = next(f for f in forms_of(page.text) if f.fields.get("step") == ["upstream"])
            consent = await http.post(
                "/oauth/consent", data={name: values[0] for name, values in upstream_form.fields.items()}
            )
            assert consent.status_code == 200 and "frank@example.com" in consent.text
            (decide,) = forms_of(consent.text)
            body: dict[str, Any] = {name: values[0] for name, values in decide.fields.items()}
            landed = await http.post(
                "/oauth/consent", data=body | {"scope": ["audit:read"], "decision": "allow"}
            )
            assert landed.url.path == "/console/audit" and "frank@example.com" in landed.text
            assert (await http.get("/console/admin/grants")).status_code == 403
        (signed_in,) = [
            r async for r in iter_records(server.app.store, AuditFilter(kind="admin.console.signed_in"))
        ]
        assert signed_in.actor.startswith("frank@example.com (console, grant ")
        assert signed_in.details is not None and signed_in.details["scopes"] == ["audit:read"]
