"""End to end on a real socket, with the Python SDK's `OAuthClientProvider` as the client.

Discovery (RFC 9728 then RFC 8414), dynamic registration (RFC 7591), authorization with PKCE through the
consent page (driven over HTTP as a browser would), the token exchange, tool calls, a refresh and then
revocation (RFC 7009). The tokens are narrowed to the grant and to the requested scopes, and every tool
call made with them records the client and the person as well as the grant.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.auth.grant import PrincipalKind
from persona_mcp.testing import issue_grant

from ._flow import MemoryStorage, Person, oauth_client, oauth_server

pytestmark = pytest.mark.anyio

PERSON = "alice@example.com"


async def _admin_records(server, action: str) -> list:  # type: ignore[no-untyped-def]
    return [r async for r in iter_records(server.app.store, AuditFilter(kind=f"admin.{action}"))]


async def test_discovery_registration_consent_calls_refresh_and_revocation(tmp_path: Path) -> None:
    async with oauth_server(tmp_path) as server:
        grant_token = await issue_grant(
            server.app,
            ["inquiries:read", "accounts:read", "pii:read", "lists:read"],
            principal=PERSON,
            principal_kind=PrincipalKind.PERSON,
        )
        # The SDK's client asks for the scopes the resource metadata lists (all of them). The page
        # offers only the grant's; pii:read is offered unticked and left so; the person unticks
        # lists:read; webhooks:read is not in the grant and is never offered.
        person = Person(grant_token, ticks={"lists:read": False})
        storage = MemoryStorage()
        auth = oauth_client(server, person, storage, scope=None)
        async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
            async with Client(streamable_http_client(server.mcp, http_client=http)) as client:
                tools = {tool.name for tool in (await client.list_tools()).tools}
                assert "list_inquiries" in tools and "list_accounts" in tools
                assert "list_lists" not in tools, "unticked: never granted"
                assert "list_webhooks" not in tools, "not in the grant: never granted"
                result = await client.call_tool("list_inquiries", {})
                assert not result.is_error, result

                # What the page showed: the client, its redirect URI, the environment and the scopes.
                sign_in, consent = person.pages[0].text, person.pages[1].text
                assert "Test agent" in sign_in and "http://127.0.0.1:53682/callback" in sign_in
                assert "sandbox" in consent and PERSON in consent
                assert 'value="pii:read">' in consent, "pii:read is offered unticked"
                assert "webhooks:read" in consent.split("Not in your grant", 1)[1]

                tokens = storage.tokens
                assert tokens is not None and tokens.refresh_token is not None
                assert tokens.scope is not None and set(tokens.scope.split()) == {
                    "inquiries:read",
                    "accounts:read",
                }
                assert tokens.expires_in is not None and tokens.expires_in <= 900
                first_access, first_refresh = tokens.access_token, tokens.refresh_token

                # The access token runs out: the client refreshes before its next call.
                auth.context.token_expiry_time = time.time() - 1
                result = await client.call_tool("list_accounts", {})
                assert not result.is_error, result
                assert storage.tokens is not None
                assert storage.tokens.access_token != first_access
                assert storage.tokens.refresh_token not in (None, first_refresh), "refresh tokens rotate"

        calls = [
            r
            async for r in iter_records(server.app.store, AuditFilter(principal=PERSON))
            if r.kind.startswith("call.") and r.tool in ("list_inquiries", "list_accounts")
        ]
        assert calls, "the tool calls are audited"
        client_id = storage.client.client_id if storage.client else None
        assert client_id is not None
        assert {(r.client_id, r.subject) for r in calls} == {(client_id, PERSON)}
        grant_id = calls[0].grant_id
        assert grant_id is not None and grant_id.startswith("grt_")

        for action in ("oauth.client_registered", "oauth.consent_given", "oauth.token_issued"):
            assert await _admin_records(server, action), action
        (refreshed,) = await _admin_records(server, "oauth.token_refreshed")
        assert refreshed.details is not None and refreshed.details["grant_id"] == grant_id

        # RFC 7009 revocation: the token stops working on the next call.
        access = storage.tokens.access_token if storage.tokens else ""
        async with httpx2.AsyncClient() as http:
            answer = await http.post(
                f"{server.base}/revoke", data={"token": access, "client_id": client_id, "client_secret": ""}
            )
            assert answer.status_code == 200
            server.app.callers.forget()
            refused = await http.post(
                server.mcp,
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                headers={
                    "Authorization": f"Bearer {access}",
                    "Accept": "application/json, text/event-stream",
                },
            )
            assert refused.status_code == 401
        assert await _admin_records(server, "oauth.token_revoked")
