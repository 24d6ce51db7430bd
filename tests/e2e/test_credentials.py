"""Upstream credentials as the server uses them: one shared OAuth renewal, and no cross-environment use."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from pydantic import SecretStr

from persona_mcp.auth.credentials import ClientAuthMethod
from persona_mcp.auth.environment import Environment
from persona_mcp.config import PersonaSettings, Settings
from persona_mcp.sandbox import SandboxConfig, create_app
from persona_mcp.sandbox.oauth import TOKEN_PATH, SandboxOAuth
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.server.app import open_server
from persona_mcp.server.callers import StaticTokenCallers
from persona_mcp.testing import SANDBOX_BASE_URL, connected, issue_grant

from ._chain import all_records
from ._credentials import credential_store

pytestmark = pytest.mark.anyio

BURST = 100
ACCESS_TOKEN_TTL = 600


class _SandboxClock:
    """The sandbox's notion of time, moved by the test: Persona decides when its tokens expire."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class _RecordingTransport(httpx2.AsyncBaseTransport):
    """The sandbox transport, remembering every Authorization header the sandbox was shown."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self._inner = inner
        self.authorizations: list[str] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.authorizations.append(request.headers.get("authorization", ""))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_a_hundred_calls_as_the_oauth_token_expires_share_exactly_one_refresh(tmp_path: Path) -> None:
    client_secret = secrets.token_urlsafe(24)
    clock = _SandboxClock()
    issuer = SandboxOAuth({"e2e-client": client_secret}, access_token_ttl=ACCESS_TOKEN_TTL, clock=clock)
    # No API key is accepted: every call that succeeds was authorised by an OAuth access token.
    upstream = create_app(SandboxConfig(api_keys=frozenset(), seed="demo", token_issuer=issuer))
    async with connected(tmp_path, ["accounts:read"], sandbox=upstream) as h:
        await credential_store(h.app).add_oauth_client(
            Environment.SANDBOX,
            token_url=SANDBOX_BASE_URL.removesuffix("/api/v1") + TOKEN_PATH,
            client_id="e2e-client",
            client_secret=SecretStr(client_secret),
            auth_method=ClientAuthMethod.CLIENT_SECRET_POST,
            actor="e2e",
        )
        first = await h.client.call_tool("list_accounts", {"page_size": 5})
        assert not first.is_error, first.content
        assert (issuer.counters.requests_by_grant["client_credentials"], issuer.counters.refreshes) == (1, 0)
        accounts = [item["id"] for item in first.structured_content["items"]]  # type: ignore[index]

        clock.offset = ACCESS_TOKEN_TTL + 1  # the token Persona issued has now expired
        failures: list[str] = []

        async def one(i: int) -> None:
            if i % 2:
                result = await h.client.call_tool("get_account", {"account_id": accounts[i % len(accounts)]})
            else:
                result = await h.client.call_tool("list_accounts", {"page_size": 2})
            if result.is_error:
                failures.append(str(result.content))

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for i in range(BURST):
                    tg.start_soon(one, i)
        assert failures == []
        assert issuer.counters.refreshes == 1, "one renewal served every concurrent call"
        assert issuer.counters.token_requests == 2
        assert issuer.counters.reuse_detections == 0 and not issuer.counters.errors


@asynccontextmanager
async def _server_without_sandbox_key(
    data_dir: Path, transport: httpx2.AsyncBaseTransport
) -> AsyncIterator[tuple[Client, str]]:
    """A server whose settings carry no PERSONA_API_KEY: only stored credentials exist."""
    settings = Settings(
        data_dir=data_dir,
        environment="sandbox",
        persona=PersonaSettings(key=None, base_url=SANDBOX_BASE_URL, max_retries=0),
    )
    async with open_server(settings, transport="memory", persona_transport=transport) as app:
        token = await issue_grant(app, ["accounts:read"], environment=Environment.SANDBOX)
        assert isinstance(app.caller_source, StaticTokenCallers)
        app.caller_source.token = token
        production_key = f"persona_production_e2e_{secrets.token_hex(12)}"
        await credential_store(app).add_api_key(
            Environment.PRODUCTION, SecretStr(production_key), actor="e2e"
        )
        async with Client(app.server) as client:
            yield client, production_key
        records = await all_records(app.store)
        outcome = [r for r in records if r.kind == "call.outcome" and r.tool == "list_accounts"]
        assert [(r.outcome, r.error_kind) for r in outcome] == [("error", "credential")]


async def test_a_sandbox_grant_never_uses_a_production_credential_and_says_which_one_is_missing(
    tmp_path: Path,
) -> None:
    upstream = create_app(SandboxConfig(seed="demo"))
    recording = _RecordingTransport(SandboxTransport(upstream))
    async with _server_without_sandbox_key(tmp_path, recording) as (client, production_key):
        with anyio.fail_after(10):
            result = await client.call_tool("list_accounts", {})
    assert result.is_error
    message = " ".join(getattr(block, "text", "") for block in result.content)
    assert "no Persona credential is configured for the sandbox environment" in message
    assert "credentials add --env sandbox" in message
    assert production_key not in message
    assert recording.authorizations == [], "nothing was sent upstream, least of all the production key"
    assert sum(upstream.state.sandbox.counters.values()) == 0
