"""Two replicas on one PostgreSQL database: an approval granted through one is honoured by the other, and
used exactly once when both receive the same approved call concurrently. Per-tool limits are shared."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from persona_mcp.audit.query import AuditFilter, query_records
from persona_mcp.auth.grant import PrincipalKind, ToolLimit
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.server.app import PersonaMcp, open_server
from persona_mcp.server.callers import StaticTokenCallers
from persona_mcp.testing import issue_grant, sandbox_app, sandbox_settings

from ._chain import all_records, assert_linear, assert_verifies

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

CALLS_PER_REPLICA = 6


@asynccontextmanager
async def _replicas(
    tmp_path: Path,
    database_url: str,
    scopes: tuple[str, ...] = ("accounts:read", "accounts:write", "accounts:delete"),
    **grant: Any,
) -> AsyncIterator[tuple[list[PersonaMcp], list[Client], Any]]:
    upstream = sandbox_app("demo")
    settings = sandbox_settings(tmp_path / "shared", database_url=database_url)
    async with AsyncExitStack() as stack:
        apps = [
            await stack.enter_async_context(
                open_server(
                    settings,
                    transport="memory",
                    persona_transport=SandboxTransport(upstream),
                    instance_id=name,
                )
            )
            for name in ("replica-a", "replica-b")
        ]
        token = await issue_grant(apps[0], scopes, **grant)
        clients = []
        for app in apps:
            assert isinstance(app.caller_source, StaticTokenCallers)
            app.caller_source.token = token
            clients.append(await stack.enter_async_context(Client(app.server)))
        yield apps, clients, upstream.state.sandbox


async def test_an_approval_granted_on_one_replica_runs_once_across_both_under_concurrent_calls(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    async with _replicas(tmp_path, postgres_schema_url, principal="agent-a") as (apps, clients, sandbox):
        account = sorted(r.id for r in sandbox.records.values() if r.type == "account")[0]
        arguments = {"account_id": account}
        held = await clients[0].call_tool("redact_account", arguments)
        approval_id = held.structured_content["id"]  # type: ignore[index]
        assert sandbox.counters["accounts.redact"] == 0

        await issue_grant(
            apps[1], ["approvals:decide"], principal="alice", principal_kind=PrincipalKind.PERSON
        )
        alice = await apps[1].review.approver("alice", admin=False)
        await apps[1].review.decide(approval_id, alice, approve=True, reason="ticket 9")

        results: list[Any] = []

        async def call(client: Client) -> None:
            results.append(await client.call_tool("redact_account", arguments))

        async with anyio.create_task_group() as tg:
            for _ in range(CALLS_PER_REPLICA):
                for client in clients:
                    tg.start_soon(call, client)

        ran = [r for r in results if not r.is_error and r.structured_content["type"] != "approval"]
        assert len(ran) == 1, "the approval was used exactly once across both replicas"
        assert sandbox.counters["accounts.redact"] == 1
        assert all(not r.is_error for r in results)

        used = await query_records(apps[0].store, AuditFilter(kind="approval.used", approval_id=approval_id))
        assert len(used) == 1
        records = await all_records(apps[0].store)
        assert_linear(records)
        await assert_verifies(apps[0].store, apps[0].audit.public_key)


async def test_a_per_tool_limit_is_shared_by_the_replicas(tmp_path: Path, postgres_schema_url: str) -> None:
    limit = ToolLimit("add_account_tag", 4, 3600)
    async with _replicas(tmp_path, postgres_schema_url, tool_limits=(limit,)) as (_apps, clients, sandbox):
        account = sorted(r.id for r in sandbox.records.values() if r.type == "account")[0]
        refused = 0

        async def call(client: Client, i: int) -> None:
            nonlocal refused
            try:
                await client.call_tool("add_account_tag", {"account_id": account, "tag_name": f"t{i}"})
            except Exception:
                refused += 1

        async with anyio.create_task_group() as tg:
            for i in range(5):
                for n, client in enumerate(clients):
                    tg.start_soon(call, client, i * 2 + n)
        assert sandbox.counters["accounts.add_tag"] == 4 and refused == 6


def _is_held(result: Any) -> bool:
    assert not result.is_error, result.content
    return bool((result.structured_content or {}).get("type") == "approval")


async def test_the_circuit_breaker_counts_declines_across_both_replicas(
    tmp_path: Path, postgres_schema_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERSONA_MCP_APPROVALS_BREAKER_THRESHOLD", "3")
    waived = frozenset({"decline_inquiry"})  # an administrator let this agent decline without approval
    scopes = ("inquiries:read", "inquiries:decide")
    async with _replicas(tmp_path, postgres_schema_url, scopes, no_approval=waived) as (
        apps,
        clients,
        sandbox,
    ):
        inquiries = sorted(r.id for r in sandbox.records.values() if r.type == "inquiry")
        # Three declines, spread over both replicas: within the threshold, each runs.
        for n, inquiry in enumerate(inquiries[:3]):
            assert not _is_held(await clients[n % 2].call_tool("decline_inquiry", {"inquiry_id": inquiry}))
        assert sandbox.counters["inquiries.decline"] == 3
        # The fourth trips the breaker on the replica that saw only one decline itself, and the other
        # replica holds the next one too.
        assert _is_held(await clients[1].call_tool("decline_inquiry", {"inquiry_id": inquiries[3]}))
        assert _is_held(await clients[0].call_tool("decline_inquiry", {"inquiry_id": inquiries[4]}))
        assert sandbox.counters["inquiries.decline"] == 3
        tripped = await query_records(apps[0].store, AuditFilter(kind="admin.breaker.tripped"), limit=None)
        assert len(tripped) == 1

        # An administrator resets it on one replica; the other runs declines again.
        grant = (await apps[1].grants.list_all())[0]
        assert await apps[1].review.reset_breaker(grant.id, actor="admin:test", reason="reviewed the burst")
        assert not _is_held(await clients[0].call_tool("decline_inquiry", {"inquiry_id": inquiries[5]}))
        assert sandbox.counters["inquiries.decline"] == 4
        await assert_verifies(apps[0].store, apps[0].audit.public_key)
