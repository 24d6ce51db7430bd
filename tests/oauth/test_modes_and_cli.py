"""The `--auth` modes decide what the metadata advertises; registration can be turned off; admins list
and revoke registered clients with `persona-mcp clients`."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from e2e._cli import child_env, run_cli
from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.auth.grant import PrincipalKind
from persona_mcp.config import AuthMode, AuthorizationServerSettings, OAuthSettings
from persona_mcp.testing import issue_grant

from ._flow import consented_code, exchange, oauth_server, opens_session, register

pytestmark = pytest.mark.anyio

PERSON = "dana@example.com"


async def test_builtin_mode_is_the_default_and_names_itself(tmp_path: Path) -> None:
    async with oauth_server(tmp_path) as server, httpx2.AsyncClient() as http:
        prm = (await http.get(f"{server.base}/.well-known/oauth-protected-resource/mcp")).json()
        assert prm["authorization_servers"] == [f"{server.base}/"]
        meta = (await http.get(f"{server.base}/.well-known/oauth-authorization-server")).json()
        assert meta["issuer"] == f"{server.base}/"
        assert meta["code_challenge_methods_supported"] == ["S256"]
        assert meta["registration_endpoint"] == f"{server.base}/register"
        assert meta["revocation_endpoint"] == f"{server.base}/revoke"
        assert set(meta["grant_types_supported"]) == {"authorization_code", "refresh_token"}


async def test_static_grant_tokens_keep_working_in_the_default_builtin_mode(tmp_path: Path) -> None:
    """The built-in authorization server is on (no --auth given), yet an admin's grant token, sent as a
    bearer token by a desktop config, still opens a session and calls tools over HTTP, with no OAuth
    client involved; revoking the grant refuses the token on the next call."""
    async with oauth_server(tmp_path) as server:
        assert server.settings.auth is None and server.app.authorization is not None  # the default: built-in
        token = await issue_grant(server.app, ["inquiries:read"], principal=PERSON)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            async with Client(streamable_http_client(server.mcp, http_client=http)) as client:
                tools = {tool.name for tool in (await client.list_tools()).tools}
                assert "list_inquiries" in tools and "list_accounts" not in tools
                result = await client.call_tool("list_inquiries", {})
                assert not result.is_error, result
        calls = [
            r
            async for r in iter_records(server.app.store, AuditFilter(tool="list_inquiries"))
            if r.kind.startswith("call.")
        ]
        assert calls and {(r.principal, r.client_id) for r in calls} == {(PERSON, None)}

        (grant,) = [g for g in await server.app.grants.list_all() if g.principal == PERSON]
        await server.app.grants.revoke(grant.id, actor="test")
        async with httpx2.AsyncClient() as http:
            assert await opens_session(http, server, token) == 401


async def test_registration_can_be_turned_off(tmp_path: Path) -> None:
    closed = AuthorizationServerSettings(registration_enabled=False)
    async with oauth_server(tmp_path, authorization=closed) as server, httpx2.AsyncClient() as http:
        meta = (await http.get(f"{server.base}/.well-known/oauth-authorization-server")).json()
        assert "registration_endpoint" not in meta
        answer = await http.post(f"{server.base}/register", json={"redirect_uris": ["http://127.0.0.1/cb"]})
        assert answer.status_code in (404, 405)


async def test_grant_tokens_mode_advertises_no_authorization_server(tmp_path: Path) -> None:
    async with oauth_server(tmp_path, auth=AuthMode.GRANT_TOKENS) as server, httpx2.AsyncClient() as http:
        for path in (
            "/.well-known/oauth-protected-resource/mcp",
            "/.well-known/oauth-authorization-server",
            "/authorize",
            "/token",
            "/register",
            "/oauth/consent",
        ):
            assert (await http.get(f"{server.base}{path}")).status_code in (404, 405), path
        refused = await http.post(server.mcp, json={})
        assert refused.status_code == 401
        assert "resource_metadata" not in refused.headers["www-authenticate"]
        # Static grant tokens keep working.
        token = await issue_grant(server.app, ["inquiries:read"])
        assert await opens_session(http, server, token) == 200


async def test_external_mode_names_the_issuer_and_serves_no_authorization_server(tmp_path: Path) -> None:
    external = OAuthSettings(issuer="https://auth.example.test/", jwks_url="https://auth.example.test/jwks")
    async with oauth_server(tmp_path, oauth=external) as server, httpx2.AsyncClient() as http:
        prm = (await http.get(f"{server.base}/.well-known/oauth-protected-resource/mcp")).json()
        assert prm["authorization_servers"] == ["https://auth.example.test/"]
        assert (await http.get(f"{server.base}/.well-known/oauth-authorization-server")).status_code == 404
        assert server.app.authorization is None
        token = await issue_grant(server.app, ["inquiries:read"])
        assert await opens_session(http, server, token) == 200


@pytest.mark.slow
async def test_admins_list_and_revoke_clients_from_the_cli(tmp_path: Path) -> None:
    env = child_env(PERSONA_MCP_DATA_DIR=str(tmp_path))
    async with oauth_server(tmp_path) as server, httpx2.AsyncClient(follow_redirects=False) as http:
        grant_token = await issue_grant(
            server.app, ["inquiries:read"], principal="carol", principal_kind=PrincipalKind.PERSON
        )
        client_id = (await register(http, server.base, name="[bold]Cursor[/bold]"))["client_id"]
        code, verifier = await consented_code(server, client_id, grant_token)
        tokens = (await exchange(http, server, client_id, code, verifier)).json()

        listed = await run_cli("clients", "list", "--json", env=env)
        assert listed.returncode == 0, listed.stderr
        (client,) = json.loads(listed.stdout)
        assert client["client_id"] == client_id and client["client_name"] == "[bold]Cursor[/bold]"
        assert client["live_tokens"] == 2 and client["revoked_at"] is None

        table = await run_cli("clients", "list", env=env | {"COLUMNS": "250"})
        assert b"[bold]Cursor[/bold]" in table.stdout, "names are shown as text, never as markup"

        revoked = await run_cli("clients", "revoke", client_id, env=env)
        assert revoked.returncode == 0, revoked.stderr
        assert await opens_session(http, server, tokens["access_token"]) == 401
        again = await run_cli("clients", "revoke", client_id, env=env)
        assert again.returncode == 1 and b"already revoked" in again.stderr


@pytest.mark.slow
async def test_with_registration_off_an_admin_registers_a_confidential_client(tmp_path: Path) -> None:
    env = child_env(PERSONA_MCP_DATA_DIR=str(tmp_path))
    closed = AuthorizationServerSettings(registration_enabled=False)
    async with oauth_server(tmp_path, authorization=closed) as server, httpx2.AsyncClient() as http:
        made = await run_cli(
            "clients",
            "register",
            "--name",
            "Ops bot",
            "--redirect-uri",
            "https://ops.example/cb",
            "--confidential",
            "--json",
            env=env,
        )
        assert made.returncode == 0, made.stderr
        shown = json.loads(made.stdout)
        grant_token = await issue_grant(server.app, ["inquiries:read"], principal="ops")
        code, verifier = await consented_code(
            server, shown["client_id"], grant_token, redirect="https://ops.example/cb"
        )
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "https://ops.example/cb",
            "client_id": shown["client_id"],
            "code_verifier": verifier,
        }
        assert (await http.post(f"{server.base}/token", data=form)).status_code == 401, "secret required"
        answer = await http.post(
            f"{server.base}/token", data=form | {"client_secret": shown["client_secret"]}
        )
        assert answer.status_code == 200, answer.text
        refused = await run_cli(
            "clients", "register", "--name", "x", "--redirect-uri", "http://evil.example/cb", env=env
        )
        assert refused.returncode == 2 and b"loopback" in refused.stderr
