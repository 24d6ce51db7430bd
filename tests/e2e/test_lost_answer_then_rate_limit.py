"""Issue 10.3 replayed end to end: a create whose answer was lost, then a 429, is an unknown effect.

The whole stack runs in process: the SDK's MCP client, the server with its audit log on a real SQLite
file, and the bundled sandbox scripted with `fail_next = ["drop", 429]`. Attempt 1 creates the account and
loses the answer; attempt 2 hits the rate limit; the client runs out of retries (or of budget). The record
must say `unknown`, the agent must be told to check first (never that repeating is safe), and the sandbox
must hold exactly one account.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from starlette.applications import Starlette

from persona_mcp.audit import AuditRecord
from persona_mcp.audit.query import AuditFilter, iter_records, query_records
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.server.app import PersonaMcp, open_server
from persona_mcp.server.callers import StaticTokenCallers
from persona_mcp.testing import issue_grant, sandbox_app, sandbox_settings

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def _server(
    data_dir: Path, upstream: Starlette, **persona: Any
) -> AsyncIterator[tuple[Client, PersonaMcp]]:
    """Like `persona_mcp.testing.connected`, with the Persona retry settings under test."""
    settings = sandbox_settings(data_dir, **persona)
    async with open_server(settings, transport="memory", persona_transport=SandboxTransport(upstream)) as app:
        assert isinstance(app.caller_source, StaticTokenCallers)
        app.caller_source.token = await issue_grant(app, ["accounts:write", "accounts:read"])
        async with Client(app.server) as client:
            yield client, app


async def _call_records(app: PersonaMcp, tool: str) -> list[AuditRecord]:
    return [record async for record in iter_records(app.store, AuditFilter(tool=tool))]


@pytest.mark.parametrize(
    ("max_retries", "budget_seconds"),
    [(1, 60.0), (4, 5.0)],
    ids=["out-of-retries", "out-of-budget"],
)
async def test_a_create_whose_answer_was_lost_then_rate_limited_is_unknown_and_never_called_safe(
    tmp_path: Path, max_retries: int, budget_seconds: float
) -> None:
    upstream = sandbox_app(seed=None)
    sandbox = upstream.state.sandbox
    sandbox.faults.retry_after_seconds = 10
    sandbox.faults.fail_next = ["drop", 429]

    async with _server(tmp_path, upstream, max_retries=max_retries, retry_budget_seconds=budget_seconds) as (
        client,
        app,
    ):
        result = await client.call_tool("create_account", {"reference_id": "usr-lost-answer"})
        records = await _call_records(app, "create_account")
        unresolved = await query_records(app.store, AuditFilter(unresolved=True))

    assert sandbox.counters["accounts.create"] == 2, "one applied attempt, one rate-limited retry"
    assert sandbox.created_count("account") == 1

    assert result.is_error
    assert result.meta is not None  # error results carry their kind in _meta (issue 12, point 1)
    error = result.meta["persona-mcp/error"]
    assert error["kind"] == "outcome_unknown" and error["retry_safe"] is False
    text = result.content[0].text  # type: ignore[union-attr]
    assert "safe" not in text, text
    assert "list_accounts" in text and "reference_id" in text, "it says how to check"

    intent, outcome = records
    assert (intent.kind, outcome.kind) == ("call.intent", "call.outcome")
    assert outcome.outcome == "unknown" and outcome.error_kind == "outcome_unknown"
    assert outcome.upstream_status == 429 and outcome.attempts == 2
    assert intent.idempotency_key and outcome.idempotency_key == intent.idempotency_key
    assert intent.idempotency_key in text
    assert [record.call_id for record in unresolved] == [outcome.call_id], "a reviewer finds it to check"


async def test_a_create_none_of_whose_attempts_got_through_is_an_error_and_safe_to_repeat(
    tmp_path: Path,
) -> None:
    """The converse: 429s are answered before anything is applied, so nothing can have happened."""
    upstream = sandbox_app(seed=None)
    sandbox = upstream.state.sandbox
    sandbox.faults.retry_after_seconds = 0
    sandbox.faults.fail_next = [429, 429]

    async with _server(tmp_path, upstream, max_retries=1) as (client, app):
        result = await client.call_tool("create_account", {"reference_id": "usr-limited"})
        _intent, outcome = await _call_records(app, "create_account")

    assert sandbox.created_count("account") == 0
    assert result.meta is not None
    assert result.meta["persona-mcp/error"]["retry_safe"] is True
    assert outcome.outcome == "error" and outcome.error_kind == "rate_limited"
