"""The reviewer tools show a grant the calls of its own environment, unless the grant is widened.

A sandbox grant with `audit:read` must not read production records (issue 10, point 9); a grant that also
holds `audit:all_environments`, which only an administrator can give, reads every record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from persona_mcp.audit import AuditEvent
from persona_mcp.auth.environment import Environment
from persona_mcp.auth.grant import GrantDraft
from persona_mcp.auth.scopes import Scope
from persona_mcp.testing import Harness, connected, issue_grant

pytestmark = pytest.mark.anyio


async def _production_call(h: Harness) -> None:
    """A call made under a production grant (recorded as the pipeline records it)."""
    issued = await h.app.grants.create(
        GrantDraft(principal="prod-agent", environment=Environment.PRODUCTION), actor="test"
    )
    await h.app.audit.append(
        AuditEvent(
            kind="call.outcome",
            call_id="prod-call",
            principal="prod-agent",
            grant_id=issued.grant.id,
            tool="get_account",
            decision="allowed",
            outcome="ok",
            object_ids=["act_production"],
        )
    )


async def _query(h: Harness, token: str, **arguments: Any) -> list[dict[str, Any]]:
    h.app.caller_source.token = token  # type: ignore[attr-defined]
    result = await h.client.call_tool("query_audit_log", {"limit": 500, **arguments})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    records: list[dict[str, Any]] = result.structured_content["records"]
    return records


async def test_a_sandbox_audit_reader_cannot_see_production_records(
    tmp_path: Path, database_url: str
) -> None:
    async with connected(tmp_path, ["audit:read", "accounts:read"], database_url=database_url) as h:
        assert not (await h.client.call_tool("list_accounts", {})).is_error
        await _production_call(h)

        seen = await _query(h, h.token)
        assert "prod-call" not in {r.get("call_id") for r in seen}
        assert [r for r in seen if r.get("tool") == "list_accounts"], "its own environment's calls are shown"
        assert not [r for r in seen if r["kind"].startswith("admin.")], "admin records belong to no grant"
        assert await _query(h, h.token, object_id="act_production") == []
        assert await _query(h, h.token, principal="prod-agent") == []


async def test_a_production_audit_reader_sees_production_calls_and_not_sandbox_ones(tmp_path: Path) -> None:
    async with connected(tmp_path, ["audit:read", "accounts:read"]) as h:
        assert not (await h.client.call_tool("list_accounts", {})).is_error
        await _production_call(h)
        production = await issue_grant(h.app, ["audit:read"], environment=Environment.PRODUCTION)

        seen = {r.get("call_id") for r in await _query(h, production)}
        assert "prod-call" in seen
        assert not [r for r in await _query(h, production, tool="list_accounts")]


async def test_a_grant_widened_by_its_administrator_sees_every_environment(tmp_path: Path) -> None:
    async with connected(tmp_path, ["audit:read", "accounts:read"]) as h:
        assert not (await h.client.call_tool("list_accounts", {})).is_error
        await _production_call(h)
        widened = await issue_grant(h.app, [Scope.AUDIT_READ, Scope.AUDIT_ALL_ENVIRONMENTS])

        seen = await _query(h, widened)
        assert "prod-call" in {r.get("call_id") for r in seen}
        assert [r for r in seen if r.get("tool") == "list_accounts"]
        assert [r for r in seen if r["kind"] == "admin.grant.created"]


async def test_the_widening_scope_alone_opens_no_tool(tmp_path: Path) -> None:
    async with connected(tmp_path, ["audit:all_environments"]) as h:
        assert (await h.client.list_tools()).tools == []
