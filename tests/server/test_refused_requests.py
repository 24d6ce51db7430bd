"""Every refused request ends in an audit record, attributed to the grant its token names; floods bounded.

Issue 10, hole 1: six calls with a revoked token, five with a guessed token and one with an expired token
added no record over HTTP (the 401 was sent before the call pipeline ran), and over stdio a refused call
was recorded with an empty principal and grant id.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.shared.exceptions import MCPError
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from persona_mcp.audit import AuditRecord, AuditUnavailableError
from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.auth.callers import TokenRefusal
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.server.app import PersonaMcp, open_server
from persona_mcp.server.refusals import RecordRefusedRequests, RefusalAggregator
from persona_mcp.server.run import http_app_for
from persona_mcp.server.serving import free_port, serving
from persona_mcp.server.session_info import SessionInfo
from persona_mcp.testing import connected, issue_grant, sandbox_app, sandbox_settings

pytestmark = pytest.mark.anyio


@dataclass
class _Running:
    resource: str
    app: PersonaMcp


@asynccontextmanager
async def _http_server(tmp_path: Path) -> AsyncIterator[_Running]:
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    settings = sandbox_settings(tmp_path)
    async with open_server(
        settings,
        transport="http",
        resource_url=resource,
        persona_transport=SandboxTransport(sandbox_app("demo")),
    ) as app:
        async with serving(http_app_for(app, settings, resource, "127.0.0.1"), port):
            yield _Running(resource=resource, app=app)


def _call(name: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": {}}}


async def _denied(app: PersonaMcp) -> list[AuditRecord]:
    return [r async for r in iter_records(app.store, AuditFilter(kind="call.denied"))]


def _refusals_counted(records: list[AuditRecord]) -> int:
    """A record stands for one refusal, or, when it is a window's count, for `details.aggregated` ones."""
    return sum(int((r.details or {}).get("aggregated", 1)) for r in records)


async def test_refused_http_requests_are_recorded_with_the_grant_their_token_names(tmp_path: Path) -> None:
    async with _http_server(tmp_path) as running:
        app = running.app
        revoked_token = await issue_grant(app, ["accounts:read"], principal="revoked-agent")
        revoked = (await app.grants.list_all())[-1]
        await app.grants.revoke(revoked.id, actor="test")
        expiring_token = await issue_grant(
            app,
            ["accounts:read"],
            principal="expiring-agent",
            expires_at=datetime.now(UTC) + timedelta(seconds=1),
        )
        expiring = (await app.grants.list_all())[-1]
        live_token = await issue_grant(app, ["accounts:read"], principal="target-agent")
        target = (await app.grants.list_all())[-1]
        guessed_for_target = live_token[:22] + secrets.token_urlsafe(32)
        await anyio.sleep(1.1)

        async with httpx2.AsyncClient(timeout=30) as http:
            for token, count in (
                (revoked_token, 6),
                (f"pmcp_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}", 5),
                (expiring_token, 1),
                (guessed_for_target, 2),
            ):
                for _ in range(count):
                    response = await http.post(
                        running.resource,
                        json=_call("list_accounts"),
                        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                    )
                    assert response.status_code == 401
            assert (await http.post(running.resource, json=_call("get_account"))).status_code == 401

    # The server has stopped: windows still open were flushed as count records.
    async with open_server(sandbox_settings(tmp_path), transport="memory") as reopened:
        denied = [r for r in await _denied(reopened) if (r.reason or "").startswith("unauthenticated")]
    by_grant: dict[str | None, list[AuditRecord]] = {}
    for record in denied:
        by_grant.setdefault(record.grant_id, []).append(record)

    assert _refusals_counted(by_grant[revoked.id]) == 6
    assert {r.principal for r in by_grant[revoked.id]} == {"revoked-agent"}
    assert all("revoked" in (r.reason or "") for r in by_grant[revoked.id])
    assert _refusals_counted(by_grant[expiring.id]) == 1
    assert "expired" in (by_grant[expiring.id][0].reason or "")
    assert _refusals_counted(by_grant[target.id]) == 2
    assert all(r.principal == "target-agent" for r in by_grant[target.id])
    assert "secret does not match" in (by_grant[target.id][0].reason or "")
    # Guessed tokens name no grant; the request without any token neither.
    assert _refusals_counted(by_grant[None]) == 6
    assert any(r.tool == "list_accounts" for r in by_grant[revoked.id])
    assert any(r.tool == "get_account" and "no bearer token" in (r.reason or "") for r in by_grant[None])
    # Repeats are aggregated: the revoked token's six refusals took two records, not six.
    assert len(by_grant[revoked.id]) == 2


async def test_a_refused_stdio_call_is_recorded_with_the_principal_and_grant_its_token_names(
    tmp_path: Path,
) -> None:
    async with connected(tmp_path, ["accounts:read"], principal="stdio-agent") as h:
        grant = (await h.app.grants.list_all())[-1]
        await h.app.grants.revoke(grant.id, actor="test")
        h.app.callers.forget()
        with pytest.raises(MCPError):
            await h.client.call_tool("list_accounts", {})
        denied = await _denied(h.app)
    assert denied[-1].principal == "stdio-agent"
    assert denied[-1].grant_id == grant.id
    assert denied[-1].tool == "list_accounts"
    assert "revoked" in (denied[-1].reason or "")


class _FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _Written:
    def __init__(self) -> None:
        self.records: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
        self.fail = False

    async def __call__(
        self,
        refusal: TokenRefusal,
        tool: str | None,
        session: SessionInfo,
        reason: str | None,
        details: Any,
    ) -> None:
        if self.fail:
            raise AuditUnavailableError("down")
        self.records.append((refusal.grant_id, reason, dict(details) if details else None))


async def test_a_flood_of_refusals_from_one_source_takes_two_records_per_window() -> None:
    clock = _FakeClock()
    written = _Written()
    aggregator = RefusalAggregator(written, lambda s: f"digest:{s}", window_seconds=60, clock=clock)
    unknown = TokenRefusal("unknown grant token")
    for _ in range(10_000):
        await aggregator.refused("203.0.113.7", unknown, "list_accounts", SessionInfo())
    assert len(written.records) == 1, "only the first refusal of the window is written at once"
    clock.now += 30
    await aggregator.flush_expired()
    assert len(written.records) == 1, "the window has not ended"
    clock.now += 31
    await aggregator.flush_expired()
    assert len(written.records) == 2
    _, reason, details = written.records[-1]
    assert details is not None and details["aggregated"] == 9_999
    assert details["source"] == "digest:203.0.113.7", "the source address is stored as a keyed digest"
    assert "9999 more" in (reason or "")
    # A new window starts with a full record again.
    await aggregator.refused("203.0.113.7", unknown, None, SessionInfo())
    assert len(written.records) == 3


async def test_many_sources_share_one_overflow_group_past_the_cap() -> None:
    clock = _FakeClock()
    written = _Written()
    aggregator = RefusalAggregator(written, str, window_seconds=60, max_groups=10, clock=clock)
    for n in range(5_000):
        await aggregator.refused(
            f"198.51.100.{n % 250}.{n}", TokenRefusal("no bearer token"), None, SessionInfo()
        )
    await aggregator.flush_all()
    assert len(written.records) <= 10 + 2
    total = sum((details or {}).get("aggregated", 1) for _, _, details in written.records)
    assert total == 5_000, "every refusal is accounted for"


async def test_a_refusal_that_cannot_be_recorded_is_answered_503_not_401() -> None:
    written = _Written()
    written.fail = True

    async def protected(_request: Any) -> PlainTextResponse:
        return PlainTextResponse("unauthorized", status_code=401)

    async def explain(_token: str | None) -> TokenRefusal:
        return TokenRefusal("no bearer token")

    inner = Starlette(routes=[Route("/mcp", protected, methods=["POST"])])
    app = RecordRefusedRequests(inner, aggregator=RefusalAggregator(written, str), explain=explain)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as http:
        response = await http.post("/mcp", json=_call("list_accounts"))
    assert response.status_code == 503
    written.fail = False
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as http:
        response = await http.post("/mcp", json=_call("list_accounts"))
    assert response.status_code == 401
    assert written.records, "the refusal was recorded before the 401 went out"
