"""Approvals in the console: a person with approvals:decide sees a held call, with its arguments masked
unless they hold pii:read, and approves it with a reason; the agent's identical call then runs once. The
principal whose call is held cannot decide it, and a decision form without its CSRF token changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.testing import issue_grant

from ._support import Running, console_server, csrf_of, person_grant, sign_in, through_consent

pytestmark = pytest.mark.anyio


async def _agent_call(running: Running, token: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        async with Client(streamable_http_client(running.mcp, http_client=http)) as client:
            result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    data: dict[str, Any] = result.structured_content or {}
    return data


async def _held_redaction(running: Running, principal: str = "agent-a") -> tuple[str, str, dict[str, Any]]:
    """An agent's `redact_account` of the first account, held for approval: (token, account, answer)."""
    agent = await issue_grant(running.app, ["accounts:read", "accounts:delete"], principal=principal)
    listed = await _agent_call(running, agent, "list_accounts", {"page_size": 1})
    account = listed["items"][0]["id"]
    return agent, account, await _agent_call(running, agent, "redact_account", {"account_id": account})


async def _intents(running: Running, tool: str) -> int:
    return len([r async for r in iter_records(running.app.store, AuditFilter(tool=tool, kind="call.intent"))])


async def test_a_person_approves_a_held_redaction_in_the_console_and_it_runs_once(tmp_path: Path) -> None:
    async with console_server(tmp_path) as running:
        agent, account, held = await _held_redaction(running)
        assert held["type"] == "approval"
        approval_id = held["approval"]["id"]
        assert await _intents(running, "redact_account") == 0, "a held call never reaches Persona"

        async with httpx2.AsyncClient(base_url=running.base, timeout=30, follow_redirects=True) as http:
            await sign_in(http, await person_grant(running.app, "alice", ["approvals:decide"]))
            listing = await http.get("/console/approvals")
            assert approval_id in listing.text and "redact_account" in listing.text
            detail = await http.get(f"/console/approvals/{approval_id}")
            assert "personal data masked" in detail.text
            forged = await http.post(f"/console/approvals/{approval_id}/approve", data={"reason": "x"})
            assert forged.status_code == 403
            no_reason = await http.post(
                f"/console/approvals/{approval_id}/approve",
                data={"reason": " ", "csrf": csrf_of(detail.text)},
            )
            assert no_reason.status_code == 400 and "reason is required" in no_reason.text
            approved = await http.post(
                f"/console/approvals/{approval_id}/approve",
                data={"reason": "erasure request #42 confirmed", "csrf": csrf_of(detail.text)},
            )
            assert '<span id="approval-state">approved</span>' in approved.text

        ran = await _agent_call(running, agent, "redact_account", {"account_id": account})
        assert ran["id"] == account
        assert await _intents(running, "redact_account") == 1
        again = await _agent_call(running, agent, "redact_account", {"account_id": account})
        assert again["type"] == "approval", "an approval is used once"
        decided = [r async for r in iter_records(running.app.store, AuditFilter(kind="approval.approved"))]
        assert [r.actor for r in decided] == ["alice"]


async def test_the_principal_whose_call_is_held_cannot_decide_it_in_the_console(tmp_path: Path) -> None:
    async with console_server(tmp_path) as running:
        _, _, held = await _held_redaction(running, principal="bob")
        approval_id = held["approval"]["id"]
        async with httpx2.AsyncClient(base_url=running.base, timeout=30, follow_redirects=True) as http:
            await sign_in(http, await person_grant(running.app, "bob", ["approvals:decide"]))
            detail = await http.get(f"/console/approvals/{approval_id}")
            refused = await http.post(
                f"/console/approvals/{approval_id}/approve",
                data={"reason": "my own", "csrf": csrf_of(detail.text)},
            )
            assert refused.status_code == 400 and "four eyes" in refused.text
            assert '<span id="approval-state">pending</span>' in refused.text


async def test_a_person_without_approvals_decide_is_refused_the_approvals_pages(tmp_path: Path) -> None:
    async with console_server(tmp_path) as running:
        async with httpx2.AsyncClient(base_url=running.base, timeout=30, follow_redirects=True) as http:
            await sign_in(http, await person_grant(running.app, "rita", ["audit:read"]))
            page = await http.get("/console/approvals")
            assert page.status_code == 403 and "approvals:decide" in page.text


async def test_signed_in_through_the_consent_page_pii_is_in_clear_only_if_the_person_ticked_it(
    tmp_path: Path,
) -> None:
    """The grant holds pii:read, but the consent page offers it unticked: the console's token, so the
    approver, sees the arguments in clear only when the person ticked it."""
    async with console_server(tmp_path) as running:
        _, _, held = await _held_redaction(running)
        approval_id = held["approval"]["id"]
        token = await person_grant(running.app, "alice", ["approvals:decide", "pii:read"])
        for ticked, masked in ((False, True), (True, False)):
            async with httpx2.AsyncClient(base_url=running.base, timeout=30, follow_redirects=True) as http:
                page = await through_consent(http, token, tick=("pii:read",) if ticked else ())
                assert "alice" in page.text
                detail = await http.get(f"/console/approvals/{approval_id}")
                assert detail.status_code == 200
                assert ("personal data masked" in detail.text) is masked


async def test_a_person_rejects_a_held_call_with_a_reason_and_the_call_never_runs(tmp_path: Path) -> None:
    async with console_server(tmp_path) as running:
        agent, account, held = await _held_redaction(running)
        approval_id = held["approval"]["id"]

        async with httpx2.AsyncClient(base_url=running.base, timeout=30, follow_redirects=True) as http:
            await sign_in(http, await person_grant(running.app, "alice", ["approvals:decide"]))
            detail = await http.get(f"/console/approvals/{approval_id}")
            assert 'id="reject-submit"' in detail.text
            no_reason = await http.post(
                f"/console/approvals/{approval_id}/reject", data={"reason": "", "csrf": csrf_of(detail.text)}
            )
            assert no_reason.status_code == 400 and "reason is required" in no_reason.text
            rejected = await http.post(
                f"/console/approvals/{approval_id}/reject",
                data={"reason": "no erasure request on file", "csrf": csrf_of(detail.text)},
            )
            assert rejected.status_code == 200
            assert '<span id="approval-state">rejected</span>' in rejected.text
            assert "alice: no erasure request on file" in rejected.text
            assert 'id="approve-submit"' not in rejected.text, "a decided approval offers no more decisions"

        again = await _agent_call(running, agent, "redact_account", {"account_id": account})
        assert again["approval"]["status"] == "rejected"
        assert "no erasure request on file" in again["approval"]["next_step"], "the agent is told why"
        assert await _intents(running, "redact_account") == 0, "a rejected call never reaches Persona"
        decided = [r async for r in iter_records(running.app.store, AuditFilter(kind="approval.rejected"))]
        assert [(r.actor, r.target) for r in decided] == [("alice", approval_id)]
        assert decided[0].reason == "no erasure request on file"
        assert [r async for r in iter_records(running.app.store, AuditFilter(kind="approval.approved"))] == []
