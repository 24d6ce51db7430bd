"""Four-eyes approvals end to end, through the SDK's client, the real pipeline, store and audit chain.

An agent's `redact_account` is held (the sandbox never sees it) until a person other than the agent
approves it; the identical call then runs once, a second one is held again, a changed one is not
covered, the agent cannot approve itself, and an expired approval runs nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import update

from audit._ocsf import ocsf_problems
from persona_mcp.audit import AuditRecord
from persona_mcp.audit.export import to_ocsf
from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.auth.grant import GrantDraft, PrincipalKind
from persona_mcp.server.approval_review import ReviewError
from persona_mcp.store.schema.approvals import approvals as approvals_table
from persona_mcp.testing import Harness, connected, issue_grant
from persona_mcp.tools import catalogue
from persona_mcp.tools.mcp_schema import output_schema

from ._chain import assert_verifies

pytestmark = pytest.mark.anyio

AGENT_SCOPES = ["accounts:read", "accounts:delete"]


async def _records(h: Harness) -> list[AuditRecord]:
    return [record async for record in iter_records(h.app.store, AuditFilter())]


async def _account(h: Harness) -> str:
    return sorted(r.id for r in h.sandbox.records.values() if r.type == "account")[0]


async def _approver(h: Harness, name: str = "alice", scopes: tuple[str, ...] = ("approvals:decide",)) -> Any:
    await issue_grant(h.app, scopes, principal=name, principal_kind=PrincipalKind.PERSON)
    return await h.app.review.approver(name, admin=False)


def _held(result: Any, tool: str) -> dict[str, Any]:
    assert not result.is_error, result.content
    data: dict[str, Any] = result.structured_content
    Draft202012Validator(output_schema(_spec(tool))).validate(data)
    assert data["type"] == "approval" and data["id"].startswith("apr_")
    return data


def _spec(tool: str) -> Any:
    return catalogue.get(tool)


async def test_redact_account_waits_for_another_person_and_runs_exactly_once(tmp_path: Path) -> None:
    async with connected(tmp_path, AGENT_SCOPES, principal="agent-a") as h:
        account = await _account(h)
        first = _held(await h.client.call_tool("redact_account", {"account_id": account}), "redact_account")
        approval_id = first["approval"]["id"]
        assert first["approval"]["status"] == "awaiting_approval"
        assert h.sandbox.counters["accounts.redact"] == 0, "a held call never reaches Persona"

        # Asking again before a decision reports the same approval and sends nothing.
        again = _held(await h.client.call_tool("redact_account", {"account_id": account}), "redact_account")
        assert again["id"] == approval_id
        assert h.sandbox.counters["accounts.redact"] == 0

        alice = await _approver(h)
        await h.app.review.decide(approval_id, alice, approve=True, reason="erasure request #42 confirmed")

        ran = await h.client.call_tool("redact_account", {"account_id": account})
        assert not ran.is_error, ran.content
        assert ran.structured_content["id"] == account
        assert h.sandbox.counters["accounts.redact"] == 1

        second = _held(await h.client.call_tool("redact_account", {"account_id": account}), "redact_account")
        assert second["id"] != approval_id, "a used approval is never used twice"
        assert "already used" in second["approval"]["note"]
        assert h.sandbox.counters["accounts.redact"] == 1

        records = await _records(h)
        story = [
            r
            for r in records
            if r.target == approval_id or (r.details or {}).get("approval_id") == approval_id
        ]
        kinds = [r.kind for r in story]
        assert (
            kinds[:1] == ["approval.requested"] and "approval.approved" in kinds and "approval.used" in kinds
        )
        used = next(r for r in story if r.kind == "approval.used")
        outcome = next(r for r in story if r.kind == "call.outcome")
        assert outcome.call_id == used.call_id and outcome.outcome == "ok", "the used record links the call"
        approved = next(r for r in story if r.kind == "approval.approved")
        assert approved.actor == "alice" and approved.reason == "erasure request #42 confirmed"
        await assert_verifies(h.app.store, h.app.audit.public_key)

        # The OCSF export carries the approval records, each a valid API Activity event.
        activities = {spec.name: spec.api_activity.value for spec in catalogue}
        for record in story:
            event = to_ocsf(record, activities)
            assert ocsf_problems(event) == [], (record.kind, ocsf_problems(event))
            assert event["unmapped"]["kind"] == record.kind
        decided = to_ocsf(approved, activities)
        assert decided["actor"]["user"]["uid"] == "alice"
        # No digest or record of the flow holds an argument value that is personal in clear (the id is not).
        assert all(
            r.details is None or "digest" not in r.details or r.details["digest"].startswith("hmac-sha256:")
            for r in story
        )


async def test_an_approval_does_not_cover_changed_arguments(tmp_path: Path) -> None:
    async with connected(tmp_path, AGENT_SCOPES, principal="agent-a") as h:
        accounts = sorted(r.id for r in h.sandbox.records.values() if r.type == "account")
        held = _held(
            await h.client.call_tool("redact_account", {"account_id": accounts[0]}), "redact_account"
        )
        await h.app.review.decide(held["id"], await _approver(h), approve=True, reason="ok")
        other = _held(
            await h.client.call_tool("redact_account", {"account_id": accounts[1]}), "redact_account"
        )
        assert other["id"] != held["id"]
        assert h.sandbox.counters["accounts.redact"] == 0


async def test_the_calling_principal_cannot_approve_its_own_call(tmp_path: Path) -> None:
    async with connected(tmp_path, [*AGENT_SCOPES, "approvals:decide"], principal="agent-a") as h:
        held = _held(
            await h.client.call_tool("redact_account", {"account_id": await _account(h)}), "redact_account"
        )
        # Even with a person grant holding approvals:decide under the same principal name.
        self_approver = await _approver(h, "agent-a")
        with pytest.raises(ReviewError, match="four eyes"):
            await h.app.review.decide(held["id"], self_approver, approve=True, reason="me")
        # An agent grant is no approver at all.
        with pytest.raises(ReviewError, match="not an approver"):
            await h.app.review.approver("robot", admin=False)
        assert h.sandbox.counters["accounts.redact"] == 0
        assert not [r for r in await _records(h) if r.kind == "approval.approved"]


async def test_an_expired_approval_is_refused(tmp_path: Path) -> None:
    async with connected(tmp_path, AGENT_SCOPES, principal="agent-a") as h:
        account = await _account(h)
        held = _held(await h.client.call_tool("redact_account", {"account_id": account}), "redact_account")
        await h.app.review.decide(held["id"], await _approver(h), approve=True, reason="ok")
        async with h.app.store.engine.begin() as conn:
            await conn.execute(
                update(approvals_table)
                .where(approvals_table.c.id == held["id"])
                .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
            )
        late = _held(await h.client.call_tool("redact_account", {"account_id": account}), "redact_account")
        assert late["id"] != held["id"] and "expired" in late["approval"]["note"]
        assert h.sandbox.counters["accounts.redact"] == 0
        kinds = [r.kind for r in await _records(h) if r.target == held["id"]]
        assert "approval.expired" in kinds and "approval.used" not in kinds


async def test_a_rejected_call_is_reported_with_the_reason_and_never_runs(tmp_path: Path) -> None:
    async with connected(tmp_path, AGENT_SCOPES, principal="agent-a") as h:
        account = await _account(h)
        held = _held(await h.client.call_tool("redact_account", {"account_id": account}), "redact_account")
        await h.app.review.decide(held["id"], await _approver(h), approve=False, reason="no erasure request")
        after = _held(await h.client.call_tool("redact_account", {"account_id": account}), "redact_account")
        assert (
            after["approval"]["status"] == "rejected"
            and "no erasure request" in after["approval"]["next_step"]
        )
        assert h.sandbox.counters["accounts.redact"] == 0


async def test_approvers_see_arguments_in_clear_only_with_pii_read(tmp_path: Path) -> None:
    async with connected(tmp_path, ["accounts:write"], principal="agent-a") as h:
        # Tightened by the grant: update_account needs approval for this agent.
        grant = (await h.app.grants.list_all())[0]
        await h.app.grants.update(
            grant.id,
            GrantDraft(
                principal=grant.principal,
                environment=grant.environment,
                scopes=grant.scopes,
                require_approval=frozenset({"update_account"}),
            ),
            actor="test",
        )
        account = await _account(h)
        args = {"account_id": account, "email_address": "jane.doe@example.com"}
        held = _held(await h.client.call_tool("update_account", args), "update_account")
        plain = await _approver(h, "bob")
        masked = await h.app.review.show(held["id"], plain)
        assert masked.masked and "jane.doe@example.com" not in str(masked.arguments)
        reader = await _approver(h, "carol", ("approvals:decide", "pii:read"))
        clear = await h.app.review.show(held["id"], reader)
        assert not clear.masked and clear.arguments is not None
        assert clear.arguments["email_address"] == "jane.doe@example.com"
        # The digest and every record hold no argument in clear.
        for record in await _records(h):
            assert "jane.doe" not in record.model_dump_json()
        assert held["id"] and h.sandbox.counters["accounts.update"] == 0
