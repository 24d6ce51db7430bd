"""End to end over streamable HTTP on a real loopback socket: bearer auth, per-grant listing, step-up."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.auth.settings import OAuthSettings
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.server.app import PersonaMcp, open_server
from persona_mcp.server.run import http_app_for
from persona_mcp.server.serving import free_port, serving
from persona_mcp.testing import issue_grant, sandbox_app, sandbox_settings

pytestmark = pytest.mark.anyio

ISSUER = "https://auth.example.test/"
JWKS_URL = "https://auth.example.test/jwks.json"


class _Issuer:
    """An external authorization server: one RSA key, its JWKS served in process."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1"})

    def transport(self) -> httpx2.MockTransport:
        keys = KeySet([self.key]).as_dict(private=False)
        return httpx2.MockTransport(lambda request: httpx2.Response(200, json=keys))

    def token(self, *, audience: str, scope: str, subject: str = "alice@example.com") -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": audience,
            "sub": subject,
            "iat": now,
            "exp": now + 300,
            "scope": scope,
        }
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.key, algorithms=["RS256"])


@dataclass
class _Running:
    url: str
    resource: str
    app: PersonaMcp


@asynccontextmanager
async def _http_server(tmp_path: Path, issuer: _Issuer | None = None) -> AsyncIterator[_Running]:
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    settings = sandbox_settings(tmp_path)
    if issuer is not None:
        settings.oauth = OAuthSettings(issuer=ISSUER, jwks_url=JWKS_URL, resource_url=resource)
    async with open_server(
        settings,
        transport="http",
        resource_url=resource,
        persona_transport=SandboxTransport(sandbox_app("demo")),
        jwks_transport=issuer.transport() if issuer else None,
    ) as app:
        async with serving(http_app_for(app, settings, resource, "127.0.0.1"), port) as base:
            yield _Running(url=base, resource=resource, app=app)


@asynccontextmanager
async def _client(resource: str, token: str) -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        async with Client(streamable_http_client(resource, http_client=http)) as client:
            yield client


def _tools_call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


async def test_no_token_gets_401_pointing_at_the_protected_resource_metadata(tmp_path: Path) -> None:
    async with _http_server(tmp_path) as running, httpx2.AsyncClient() as http:
        response = await http.post(running.resource, json=_tools_call("list_accounts", {}))
        assert response.status_code == 401
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith("Bearer") and "resource_metadata=" in challenge
        metadata_url = challenge.split('resource_metadata="')[1].split('"')[0]
        metadata = (await http.get(metadata_url)).json()
        assert metadata["resource"].rstrip("/") == running.resource
        assert metadata["authorization_servers"]
        health = await http.get(f"{running.url}/healthz")
        assert health.status_code == 200 and health.json()["audit"]["ok"] is True


async def test_a_read_only_grant_lists_no_write_tool_and_a_direct_write_call_is_refused(
    tmp_path: Path,
) -> None:
    async with _http_server(tmp_path) as running:
        token = await issue_grant(running.app, ["accounts:read", "inquiries:read"])
        async with _client(running.resource, token) as client:
            tools = (await client.list_tools()).tools
            assert tools and all(t.annotations and t.annotations.read_only_hint for t in tools)
            assert not (await client.call_tool("list_accounts", {})).is_error
            with pytest.raises(MCPError) as refused:
                await client.call_tool("create_account", {"reference_id": "x"})
            assert "accounts:write" in refused.value.message


async def test_a_revoked_grant_is_refused_on_its_next_call(tmp_path: Path) -> None:
    async with _http_server(tmp_path) as running:
        token = await issue_grant(running.app, ["accounts:read"])
        grant = (await running.app.callers.resolve(token)).grant  # type: ignore[union-attr]
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
            await running.app.grants.revoke(grant.id, actor="test")
            with anyio.fail_after(10):
                while True:  # the resolver caches a verdict for at most two seconds
                    response = await http.post(
                        running.resource,
                        json=_tools_call("list_accounts", {}),
                        headers={"Accept": "application/json, text/event-stream"},
                    )
                    if response.status_code == 401:
                        break
                    await anyio.sleep(0.25)


async def test_a_jwt_for_another_audience_is_refused(tmp_path: Path) -> None:
    issuer = _Issuer()
    async with _http_server(tmp_path, issuer) as running:
        await issue_grant(running.app, ["accounts:read"], principal="alice@example.com")
        token = issuer.token(audience="https://elsewhere.example/mcp", scope="accounts:read")
        async with httpx2.AsyncClient() as http:
            response = await http.post(
                running.resource,
                json=_tools_call("list_accounts", {}),
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"},
            )
        assert response.status_code == 401


async def test_a_jwt_for_this_server_works_within_its_grant_and_a_missing_scope_gets_a_step_up_challenge(
    tmp_path: Path,
) -> None:
    issuer = _Issuer()
    async with _http_server(tmp_path, issuer) as running:
        await issue_grant(running.app, ["accounts:read", "accounts:write"], principal="alice@example.com")
        token = issuer.token(audience=running.resource, scope="accounts:read")
        async with _client(running.resource, token) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert "list_accounts" in names
            assert "create_account" not in names, "the token's scopes narrow the grant"
            assert not (await client.call_tool("list_accounts", {})).is_error
        async with httpx2.AsyncClient() as http:
            response = await http.post(
                running.resource,
                json=_tools_call("create_account", {"reference_id": "x"}),
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"},
            )
        assert response.status_code == 403
        challenge = response.headers["www-authenticate"]
        assert 'error="insufficient_scope"' in challenge
        assert 'scope="accounts:write"' in challenge
        assert "resource_metadata=" in challenge
        records = [r async for r in iter_records(running.app.store, AuditFilter())]
        denied = [r for r in records if r.kind == "call.denied" and r.tool == "create_account"]
        assert denied and denied[-1].reason == "access token lacks scope accounts:write"
        assert denied[-1].principal == "alice@example.com"
