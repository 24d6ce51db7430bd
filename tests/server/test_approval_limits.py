"""Per-tool limits per grant, the destructive-call circuit breaker, and the approval policy's sources:
the declaration, the grant's tightening and loosening, the breaker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from mcp.shared.exceptions import MCPError

from persona_mcp.audit.query import AuditFilter, query_records
from persona_mcp.auth.approval_policy import ApprovalPolicy
from persona_mcp.auth.approvals import PENDING, Approval
from persona_mcp.auth.grant import ToolLimit
from persona_mcp.server.approvals import held_result
from persona_mcp.testing import connected
from persona_mcp.tools import catalogue
from persona_mcp.tools.mcp_schema import output_schema

pytestmark = pytest.mark.anyio


def test_the_policy_follows_from_each_declaration() -> None:
    required = {spec.name for spec in catalogue if spec.approval_policy is ApprovalPolicy.REQUIRED}
    for name in (
        "redact_account",
        "consolidate_accounts",
        "redact_inquiry",
        "approve_inquiry",
        "decline_inquiry",
        "mark_inquiry_for_review",
        "archive_list",
        "archive_webhook",
        "rotate_webhook_secret",
    ):
        assert name in required
    assert "create_account" not in required and "get_account" not in required
    for spec in catalogue:
        suffix = spec.scope.value.rsplit(":", 1)[-1]
        derived = spec.effect.value == "destructive" or suffix in ("delete", "decide")
        assert (spec.approval_policy is ApprovalPolicy.REQUIRED) == derived, spec.name


def test_a_held_answer_is_valid_for_every_write_tools_output_schema() -> None:
    now = datetime.now(UTC)
    approval = Approval(
        id="apr_0123456789abcdef0123",
        principal="agent",
        grant_id="grt_1",
        environment="sandbox",
        tool="x",
        digest="hmac-sha256:00",
        state=PENDING,
        requirement="declared",
        requested_at=now,
        expires_at=now + timedelta(hours=24),
        request_call_id="c1",
        args_key_id="k",
        args_sealed=b"",
    )
    for spec in catalogue:
        if not spec.is_write:
            continue
        result = held_result(spec, approval, note=None)
        assert not result.is_error
        Draft202012Validator(output_schema(spec)).validate(result.structured_content)


async def test_a_per_tool_limit_refuses_the_call_past_it_and_records_the_denial(tmp_path: Path) -> None:
    limit = ToolLimit("add_account_tag", 2, 3600)
    async with connected(tmp_path, ["accounts:write"], tool_limits=(limit,)) as h:
        account = sorted(r.id for r in h.sandbox.records.values() if r.type == "account")[0]
        for i in range(2):
            ok = await h.client.call_tool("add_account_tag", {"account_id": account, "tag_name": f"t{i}"})
            assert not ok.is_error, ok.content
        with pytest.raises(MCPError) as refused:
            await h.client.call_tool("add_account_tag", {"account_id": account, "tag_name": "t3"})
        assert "2 calls of add_account_tag per 3600s" in refused.value.message
        assert h.sandbox.counters["accounts.add_tag"] == 2
        # Other tools are not limited.
        other = await h.client.call_tool("remove_account_tag", {"account_id": account, "tag_name": "t0"})
        assert not other.is_error
        denied = await query_records(h.app.store, AuditFilter(kind="call.denied"), limit=None)
        assert [r.tool for r in denied] == ["add_account_tag"] and "tool limit" in (denied[0].reason or "")


async def test_a_burst_of_declines_trips_the_breaker_and_further_declines_wait_for_approval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERSONA_MCP_APPROVALS_BREAKER_THRESHOLD", "3")
    waived = frozenset({"decline_inquiry"})  # an administrator let this agent decline without approval
    async with connected(tmp_path, ["inquiries:read", "inquiries:decide"], no_approval=waived) as h:
        inquiries = sorted(r.id for r in h.sandbox.records.values() if r.type == "inquiry")
        for inquiry in inquiries[:3]:
            ran = await h.client.call_tool("decline_inquiry", {"inquiry_id": inquiry})
            assert (ran.structured_content or {}).get("type") != "approval", "within the threshold: runs"
        assert h.sandbox.counters["inquiries.decline"] == 3
        held = await h.client.call_tool("decline_inquiry", {"inquiry_id": inquiries[3]})
        assert not held.is_error and held.structured_content["type"] == "approval"  # type: ignore[index]
        held_again = await h.client.call_tool("decline_inquiry", {"inquiry_id": inquiries[4]})
        assert held_again.structured_content["type"] == "approval"  # type: ignore[index]
        assert h.sandbox.counters["inquiries.decline"] == 3, "while tripped, declines wait for approval"
        tripped = await query_records(h.app.store, AuditFilter(kind="admin.breaker.tripped"), limit=None)
        assert len(tripped) == 1 and tripped[0].details["calls"] == 4  # type: ignore[index]

        grant = (await h.app.grants.list_all())[0]
        assert await h.app.review.reset_breaker(grant.id, actor="admin:test", reason="reviewed the burst")
        after = await h.client.call_tool("decline_inquiry", {"inquiry_id": inquiries[5]})
        assert (after.structured_content or {}).get("type") != "approval"
        assert h.sandbox.counters["inquiries.decline"] == 4
        assert await query_records(h.app.store, AuditFilter(kind="admin.breaker.reset"), limit=None)


async def test_a_grant_can_require_approval_for_more_tools(tmp_path: Path) -> None:
    tightened = frozenset({"add_account_tag"})
    async with connected(tmp_path, ["accounts:write"], require_approval=tightened) as h:
        account = sorted(r.id for r in h.sandbox.records.values() if r.type == "account")[0]
        held = await h.client.call_tool("add_account_tag", {"account_id": account, "tag_name": "vip"})
        assert held.structured_content["type"] == "approval"  # type: ignore[index]
        assert h.sandbox.counters.get("accounts.add_tag", 0) == 0
        ran = await h.client.call_tool("remove_account_tag", {"account_id": account, "tag_name": "vip"})
        assert (ran.structured_content or {}).get("type") != "approval"
