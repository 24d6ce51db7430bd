"""Bearer authentication through the MCP SDK and the step-up challenge, over ASGI in process."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest
from auth_helpers import Clock, Issuer
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, BearerAuthBackend, RequireAuthMiddleware
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.lowlevel import Server
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.routing import Route
from starlette.types import Message, Receive, Send
from starlette.types import Scope as AsgiScope

from persona_mcp.auth.callers import CallerResolver
from persona_mcp.auth.environment import Environment
from persona_mcp.auth.grant import GrantDraft
from persona_mcp.auth.grants import GrantStore
from persona_mcp.auth.jwt import JwtVerifier
from persona_mcp.auth.scopes import Scope
from persona_mcp.auth.settings import OAuthSettings
from persona_mcp.auth.verifier import CallerAccessToken, CallerTokenVerifier, caller_from_access_token
from persona_mcp.server.http_auth import StepUpMiddleware

pytestmark = pytest.mark.anyio

# The SDK's bearer backend compares `expires_at` with the real clock, so tokens here are minted now.
NOW = float(int(time.time()))


@pytest.fixture(autouse=True)
def _now_is_when_the_test_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tokens are issued at NOW and the SDK checks their expiry against the real clock: NOW must be this
    test's start, not the suite's (a long run would otherwise see every token expired)."""
    monkeypatch.setattr(sys.modules[__name__], "NOW", float(int(time.time())))


METADATA_URL = "https://mcp.example.test/.well-known/oauth-protected-resource/mcp"
TOOL_SCOPES = {
    "get_account": Scope.ACCOUNTS_READ,
    "create_account": Scope.ACCOUNTS_WRITE,
    "approve_inquiry": Scope.INQUIRIES_DECIDE,
}
TOOL_EFFECTS = {"get_account": "read", "create_account": "write", "approve_inquiry": "destructive"}


class _Refusals:
    """Stands in for the pipeline's denial record; `fail` makes it raise like a broken audit log."""

    def __init__(self) -> None:
        self.recorded: list[tuple[str, str | None, str]] = []
        self.fail = False

    async def __call__(
        self, caller: Any, tool: str, arguments: Any, session_id: str | None, reason: str
    ) -> None:
        if self.fail:
            raise OSError("audit log unavailable")
        self.recorded.append((tool, session_id, reason))


def _call(tool: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": {}}}


async def _echo(scope: AsgiScope, receive: Receive, send: Send) -> None:
    """Stands in for the MCP endpoint: answers with the body it received."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
async def setup(grant_store: GrantStore, clock: Clock) -> AsyncIterator[dict[str, Any]]:
    clock.now = datetime.fromtimestamp(NOW, UTC)
    issuer = Issuer()
    settings = OAuthSettings(issuer=Issuer.ISSUER, jwks_url=Issuer.JWKS_URL, resource_url=Issuer.RESOURCE)
    jwt = JwtVerifier(settings, transport=issuer.transport(), clock=lambda: NOW)
    resolver = CallerResolver(grant_store, jwt=jwt, clock=clock)
    verifier = CallerTokenVerifier(resolver, resource_url=Issuer.RESOURCE)
    refusals = _Refusals()
    step_up = StepUpMiddleware(
        _echo,
        tool_scopes=TOOL_SCOPES,
        tool_effects=TOOL_EFFECTS,
        on_refused=refusals,
        resource_metadata_url=METADATA_URL,
        clock=clock,
    )
    endpoint = RequireAuthMiddleware(
        step_up, required_scopes=[], resource_metadata_url=AnyHttpUrl(METADATA_URL)
    )
    app = Starlette(
        routes=[Route("/mcp", endpoint=endpoint, methods=["POST"])],
        middleware=[Middleware(AuthenticationMiddleware, backend=BearerAuthBackend(verifier))],
    )
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app), base_url="https://mcp.example.test"
    ) as http:
        yield {
            "http": http,
            "issuer": issuer,
            "verifier": verifier,
            "store": grant_store,
            "refusals": refusals,
        }


async def _grant(store: GrantStore, *scopes: Scope, principal: str = "alice") -> str:
    issued = await store.create(
        GrantDraft(principal=principal, environment=Environment.SANDBOX, scopes=frozenset(scopes))
    )
    return issued.token


async def test_an_under_scoped_jwt_gets_the_insufficient_scope_challenge(setup: dict[str, Any]) -> None:
    await _grant(setup["store"], Scope.INQUIRIES_DECIDE, Scope.ACCOUNTS_READ)
    token = setup["issuer"].token(now=NOW, scope="accounts:read")
    response = await setup["http"].post(
        "/mcp", json=_call("approve_inquiry"), headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 403
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="inquiries:decide"' in challenge
    assert f'resource_metadata="{METADATA_URL}"' in challenge
    assert response.json()["error"] == "insufficient_scope"
    assert setup["refusals"].recorded == [
        ("approve_inquiry", None, "access token lacks scope inquiries:decide")
    ]


async def test_a_tool_call_spelled_with_json_escapes_is_challenged_too(setup: dict[str, Any]) -> None:
    """The step-up check skips parsing bodies that cannot hold a tools/call (issue 18), but `\\/` and
    `\\u` escapes spell "tools/call" without those bytes: such a body is still parsed and challenged."""
    await _grant(setup["store"], Scope.INQUIRIES_DECIDE, Scope.ACCOUNTS_READ)
    token = setup["issuer"].token(now=NOW, scope="accounts:read")
    for method in ("tools\\/call", "\\u0074ools/c\\u0061ll"):
        head = '{"jsonrpc": "2.0", "id": 1, "method": "' + method + '", '
        body = head + '"params": {"name": "approve_inquiry", "arguments": {}}}'
        assert b"tools/call" not in body.encode()
        response = await setup["http"].post(
            "/mcp",
            content=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        assert response.status_code == 403, method
    assert len(setup["refusals"].recorded) == 2


async def test_a_challenge_that_cannot_be_recorded_is_answered_503(setup: dict[str, Any]) -> None:
    await _grant(setup["store"], Scope.INQUIRIES_DECIDE, Scope.ACCOUNTS_READ)
    token = setup["issuer"].token(now=NOW, scope="accounts:read")
    setup["refusals"].fail = True
    response = await setup["http"].post(
        "/mcp", json=_call("approve_inquiry"), headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 503


async def test_a_tool_the_grant_forbids_is_not_advertised_by_a_challenge(setup: dict[str, Any]) -> None:
    await _grant(setup["store"], Scope.ACCOUNTS_READ)
    token = setup["issuer"].token(now=NOW, scope="accounts:read")
    response = await setup["http"].post(
        "/mcp", json=_call("approve_inquiry"), headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200  # on to the MCP layer, which refuses it like an unknown tool


async def test_a_sufficiently_scoped_call_reaches_the_endpoint_with_its_body_intact(
    setup: dict[str, Any],
) -> None:
    await _grant(setup["store"], Scope.ACCOUNTS_WRITE)
    token = setup["issuer"].token(now=NOW, scope="accounts:write")
    body = json.dumps(_call("create_account")).encode()
    response = await setup["http"].post(
        "/mcp", content=body, headers={"Authorization": f"Bearer {token}", "content-type": "application/json"}
    )
    assert response.status_code == 200 and response.content == body


async def test_grant_tokens_and_other_methods_are_never_challenged(setup: dict[str, Any]) -> None:
    grant_token = await _grant(setup["store"], Scope.ACCOUNTS_READ, principal="bot")
    await _grant(setup["store"], Scope.ACCOUNTS_WRITE)
    jwt = setup["issuer"].token(now=NOW, scope="accounts:read")
    as_grant = await setup["http"].post(
        "/mcp", json=_call("create_account"), headers={"Authorization": f"Bearer {grant_token}"}
    )
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    as_jwt = await setup["http"].post("/mcp", json=listing, headers={"Authorization": f"Bearer {jwt}"})
    assert (as_grant.status_code, as_jwt.status_code) == (200, 200)


async def test_missing_or_bad_tokens_get_the_401_with_resource_metadata(setup: dict[str, Any]) -> None:
    for headers in ({}, {"Authorization": "Bearer pmcp_0123456789abcdef_" + "x" * 43}):
        response = await setup["http"].post("/mcp", json=_call("get_account"), headers=headers)
        assert response.status_code == 401
        assert f'resource_metadata="{METADATA_URL}"' in response.headers["www-authenticate"]


async def test_a_jwt_for_another_audience_is_refused_at_the_door(setup: dict[str, Any]) -> None:
    await _grant(setup["store"], Scope.ACCOUNTS_READ)
    token = setup["issuer"].token(now=NOW, scope="accounts:read", aud="https://elsewhere.test/mcp")
    response = await setup["http"].post(
        "/mcp", json=_call("get_account"), headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401


async def test_the_verifier_hands_back_the_caller_and_refuses_malformed_tokens(setup: dict[str, Any]) -> None:
    token = await _grant(setup["store"], Scope.EVENTS_READ, principal="bot")
    access = await setup["verifier"].verify_token(token)
    assert isinstance(access, CallerAccessToken)
    caller = caller_from_access_token(access)
    assert caller is not None and caller.principal == "bot"
    assert access.scopes == ["events:read"] and access.resource == Issuer.RESOURCE
    assert "caller" not in access.model_dump() and "_caller" not in access.model_dump_json()
    assert caller_from_access_token(AccessToken(token="x", client_id="c", scopes=[])) is None
    for bad in ("", "garbage", "pmcp_", "a.b.c"):
        assert await setup["verifier"].verify_token(bad) is None


async def test_a_token_is_verified_into_one_access_token_per_cached_caller_and_refused_once_revoked(
    setup: dict[str, Any], clock: Clock
) -> None:
    """The access token is made once per cached resolution, not per request; the resolver still decides
    every request, so a revoked grant is refused as soon as its cache entry ends."""
    store: GrantStore = setup["store"]
    token = await _grant(store, Scope.ACCOUNTS_READ, principal="cached")
    other = await _grant(store, Scope.ACCOUNTS_READ, principal="other")
    first = await setup["verifier"].verify_token(token)
    assert first is not None and await setup["verifier"].verify_token(token) is first
    assert caller_from_access_token(await setup["verifier"].verify_token(other)).principal == "other"  # type: ignore[union-attr]
    grant = caller_from_access_token(first).grant  # type: ignore[union-attr]
    await store.revoke(grant.id)
    clock.advance(60)  # past the resolver's cache entry
    assert await setup["verifier"].verify_token(token) is None


async def test_a_large_streamed_body_is_fed_on_in_full(grant_store: GrantStore, clock: Clock) -> None:
    """Bodies above the inspection limit pass uninspected, chunk by chunk, with nothing lost."""
    clock.now = datetime.fromtimestamp(NOW, UTC)
    issuer = Issuer()
    settings = OAuthSettings(issuer=Issuer.ISSUER, jwks_url=Issuer.JWKS_URL, resource_url=Issuer.RESOURCE)
    resolver = CallerResolver(
        grant_store, jwt=JwtVerifier(settings, transport=issuer.transport(), clock=lambda: NOW), clock=clock
    )
    await _grant(grant_store, Scope.ACCOUNTS_READ)
    access = await CallerTokenVerifier(resolver).verify_token(issuer.token(now=NOW, scope="accounts:read"))
    assert access is not None
    chunks = [b'{"jsonrpc": "2.0", ', b'"method": "tools/call", ', b'"params": {"name": "get_account"}}']
    incoming: list[Message] = [
        {"type": "http.request", "body": c, "more_body": i < 2} for i, c in enumerate(chunks)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    middleware = StepUpMiddleware(
        _echo,
        tool_scopes=TOOL_SCOPES,
        tool_effects=TOOL_EFFECTS,
        on_refused=_Refusals(),
        resource_metadata_url=METADATA_URL,
        max_inspected_bytes=10,
    )
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/mcp",
        "headers": [],
        "user": AuthenticatedUser(access),
    }
    await middleware(scope, receive, send)
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"".join(chunks)


async def test_the_sdk_server_app_accepts_grant_tokens_for_its_resource(
    grant_store: GrantStore, clock: Clock
) -> None:
    """`Server.streamable_http_app` with our verifier: metadata, 401 challenge, and an accepted token."""
    resource = "http://127.0.0.1:8000/mcp"
    verifier = CallerTokenVerifier(CallerResolver(grant_store, clock=clock), resource_url=resource)
    auth = AuthSettings(
        issuer_url=AnyHttpUrl(Issuer.ISSUER),
        resource_server_url=AnyHttpUrl(resource),
        validate_token_resource=True,
    )
    app = Server("persona-test").streamable_http_app(
        auth=auth, token_verifier=verifier, stateless_http=True, json_response=True
    )
    token = await _grant(grant_store, Scope.ACCOUNTS_READ, principal="bot")
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream", "Host": "127.0.0.1:8000"}
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1:8000") as http,
    ):
        metadata = (await http.get("/.well-known/oauth-protected-resource/mcp")).json()
        refused = await http.post("/mcp", json=initialize, headers=headers)
        accepted = await http.post(
            "/mcp", json=initialize, headers=headers | {"Authorization": f"Bearer {token}"}
        )
    assert metadata["resource"] == resource
    assert refused.status_code == 401
    assert "resource_metadata=" in refused.headers["www-authenticate"]
    assert accepted.status_code == 200, accepted.text
