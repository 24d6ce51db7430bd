"""The pieces of an OAuth test: a real server on a loopback socket, and a person at the consent page.

`oauth_server` serves the assembled server (built-in authorization server mode, the default) with the
Persona sandbox upstream. `Person` plays the human in the browser: it follows the authorization URL the
client hands it, signs in on the consent page with a grant token, leaves the ticks as they are (or changes
them) and answers; the redirect back to the client is what `callback` returns, as a browser would deliver
it to the client's loopback listener.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from pydantic import AnyUrl
from sqlalchemy import update

from persona_mcp.config import AuthorizationServerSettings, Settings
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.server.app import PersonaMcp, open_server
from persona_mcp.server.run import http_app_for
from persona_mcp.server.serving import free_port, serving
from persona_mcp.store.schema.oauth import oauth_tokens
from persona_mcp.testing import sandbox_app, sandbox_settings

CALLBACK_PATH = "/callback"


@dataclass
class Running:
    base: str
    mcp: str
    app: PersonaMcp
    settings: Settings

    async def expire_access_tokens(self) -> None:
        """Make every access token's expiry pass (as 15 minutes of waiting would)."""
        from datetime import UTC, datetime, timedelta

        past = datetime.now(UTC) - timedelta(seconds=1)
        async with self.app.store.engine.begin() as conn:
            await conn.execute(
                update(oauth_tokens).where(oauth_tokens.c.kind == "access").values(expires_at=past)
            )
        self.app.callers.forget()


@asynccontextmanager
async def oauth_server(
    tmp_path: Path,
    *,
    authorization: AuthorizationServerSettings | None = None,
    public_url: str | None = None,
    port: int | None = None,
    **settings_fields: Any,
) -> AsyncIterator[Running]:
    port = port or free_port()
    resource = public_url or f"http://127.0.0.1:{port}/mcp"
    settings = sandbox_settings(tmp_path)
    if authorization is not None:
        settings.authorization = authorization
    for name, value in settings_fields.items():
        setattr(settings, name, value)
    async with open_server(
        settings,
        transport="http",
        resource_url=resource,
        persona_transport=SandboxTransport(sandbox_app("demo")),
    ) as app:
        asgi = http_app_for(app, settings, resource)
        async with serving(asgi, port) as base:
            yield Running(base=base, mcp=f"{base}/mcp", app=app, settings=settings)


class MemoryStorage(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, list[str]] = field(default_factory=dict)
    checkboxes: dict[str, bool] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(action=a.get("action", ""), method=a.get("method", "get")))
        elif tag == "input" and self.forms:
            form = self.forms[-1]
            if a.get("type") == "checkbox":
                form.checkboxes[a["value"]] = "checked" in a
            elif a.get("type") != "password":
                form.fields.setdefault(a["name"], []).append(a.get("value", ""))
        elif tag == "button" and self.forms and "name" in a:
            self.forms[-1].buttons.append((a["name"], a.get("value", "")))


def forms_of(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


@dataclass
class Person:
    """The human at the consent page, with their grant token."""

    grant_token: str
    #: Scopes to tick or untick on the consent page (name -> ticked), beyond the page's defaults.
    ticks: dict[str, bool] = field(default_factory=dict)
    decision: str = "allow"
    pages: list[httpx2.Response] = field(default_factory=list)
    redirect: str | None = None

    async def authorize(self, url: str) -> None:
        """The redirect handler: the browser opens `url` and goes through the consent page."""
        async with httpx2.AsyncClient(follow_redirects=False) as browser:
            answer = await browser.get(url)
            assert answer.status_code == 302, answer.text
            consent_url = urljoin(url, answer.headers["location"])
            page = await browser.get(consent_url)
            self.pages.append(page)
            assert page.status_code == 200, page.text
            (sign_in,) = forms_of(page.text)
            data = {name: values[0] for name, values in sign_in.fields.items()}
            data["grant_token"] = self.grant_token
            page = await browser.post(urljoin(consent_url, sign_in.action), data=data)
            self.pages.append(page)
            assert page.status_code == 200, page.text
            (consent,) = forms_of(page.text)
            ticked = {name for name, on in consent.checkboxes.items() if on}
            ticked |= {name for name, on in self.ticks.items() if on}
            ticked -= {name for name, on in self.ticks.items() if not on}
            body: dict[str, Any] = {name: values[0] for name, values in consent.fields.items()}
            body |= {"scope": sorted(ticked), "decision": self.decision}
            answer = await browser.post(urljoin(consent_url, consent.action), data=body)
            assert answer.status_code == 303, answer.text
            self.redirect = answer.headers["location"]

    async def callback(self) -> AuthorizationCodeResult:
        """The callback handler: what the client's loopback listener received."""
        assert self.redirect is not None
        query = parse_qs(urlsplit(self.redirect).query)
        if "error" in query:
            raise PermissionError(query["error"][0])
        return AuthorizationCodeResult(
            code=query["code"][0], state=query.get("state", [None])[0], iss=query.get("iss", [None])[0]
        )

    @property
    def last_page(self) -> str:
        return self.pages[-1].text


def client_metadata(
    scope: str | None, *, name: str = "Test agent", redirect_port: int = 53682
) -> OAuthClientMetadata:
    return OAuthClientMetadata(
        client_name=name,
        redirect_uris=[AnyUrl(f"http://127.0.0.1:{redirect_port}{CALLBACK_PATH}")],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
        scope=scope,
    )


def oauth_client(
    server: Running, person: Person, storage: MemoryStorage, *, scope: str | None, name: str = "Test agent"
) -> OAuthClientProvider:
    return OAuthClientProvider(
        server_url=server.mcp,
        client_metadata=client_metadata(scope, name=name),
        storage=storage,
        redirect_handler=person.authorize,
        callback_handler=person.callback,
    )


# -- raw HTTP steps, for the tests that misbehave on purpose ------------------------------------------

REDIRECT = f"http://127.0.0.1:53682{CALLBACK_PATH}"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"},
    },
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


def pkce() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    import base64
    import hashlib
    import secrets

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


async def register(
    http: httpx2.AsyncClient,
    base: str,
    *,
    redirect: str = REDIRECT,
    name: str = "Raw client",
    auth_method: str = "none",
) -> dict[str, Any]:
    answer = await http.post(
        f"{base}/register",
        json={
            "client_name": name,
            "redirect_uris": [redirect],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": auth_method,
        },
    )
    assert answer.status_code == 201, answer.text
    registered: dict[str, Any] = answer.json()
    return registered


def authorize_url(
    base: str,
    client_id: str,
    challenge: str | None,
    *,
    redirect: str = REDIRECT,
    scope: str | None = None,
    resource: str | None = None,
    method: str | None = "S256",
    state: str = "state-1",
) -> str:
    from urllib.parse import urlencode

    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect, "state": state}
    if challenge is not None:
        params["code_challenge"] = challenge
    if method is not None:
        params["code_challenge_method"] = method
    if scope is not None:
        params["scope"] = scope
    if resource is not None:
        params["resource"] = resource
    return f"{base}/authorize?{urlencode(params)}"


def redirect_params(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


async def consented_code(
    server: Running,
    client_id: str,
    grant_token: str,
    *,
    scope: str | None = None,
    redirect: str = REDIRECT,
    ticks: dict[str, bool] | None = None,
) -> tuple[str, str]:
    """(code, code_verifier) after a person allowed the request on the consent page."""
    verifier, challenge = pkce()
    person = Person(grant_token, ticks=ticks or {})
    await person.authorize(
        authorize_url(server.base, client_id, challenge, redirect=redirect, scope=scope, resource=server.mcp)
    )
    assert person.redirect is not None
    params = redirect_params(person.redirect)
    assert "code" in params, params
    return params["code"], verifier


async def exchange(
    http: httpx2.AsyncClient,
    server: Running,
    client_id: str,
    code: str,
    verifier: str,
    *,
    redirect: str = REDIRECT,
) -> httpx2.Response:
    return await http.post(
        f"{server.base}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect,
            "client_id": client_id,
            "code_verifier": verifier,
            "resource": server.mcp,
        },
    )


async def refresh(
    http: httpx2.AsyncClient, server: Running, client_id: str, refresh_token: str
) -> httpx2.Response:
    return await http.post(
        f"{server.base}/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id},
    )


async def opens_session(http: httpx2.AsyncClient, server: Running, access_token: str) -> int:
    """The status of an `initialize` with this bearer token (200: accepted, 401: refused)."""
    server.app.callers.forget()
    answer = await http.post(
        server.mcp, json=INITIALIZE, headers={**ACCEPT, "Authorization": f"Bearer {access_token}"}
    )
    return answer.status_code
