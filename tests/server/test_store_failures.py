"""No call that reaches Persona ends without a record, whatever the audit store does (issue 10, hole 2).

While the store was full, revoked or killed, reads reached Persona and left no record of any kind. Now:
a call is refused before the upstream request while the store is known to be failing; a failure found
after the request puts the real outcome in the local spool, which is appended as soon as the store is
back (or when the server next starts, before open intents are resolved as unknown).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from persona_mcp.audit import AuditEvent, AuditRecord
from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.audit.spool import OutcomeSpool
from persona_mcp.audit.verify import verify_log
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.server.app import PersonaMcp, open_server
from persona_mcp.server.callers import StaticTokenCallers
from persona_mcp.testing import issue_grant, sandbox_app, sandbox_settings

pytestmark = pytest.mark.anyio

REFUSE_INSERTS = (
    "CREATE TRIGGER chaos_refuse_insert BEFORE INSERT ON audit_records "
    "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
)


def _database(tmp_path: Path) -> Path:
    return tmp_path / "persona-mcp.sqlite3"


def _store_fails(tmp_path: Path, failing: bool) -> None:
    with sqlite3.connect(_database(tmp_path)) as conn:
        conn.execute("DROP TRIGGER IF EXISTS chaos_refuse_insert")
        if failing:
            conn.execute(REFUSE_INSERTS)


class _RecordingTransport(httpx2.AsyncBaseTransport):
    """The sandbox, a log of what it received, and a hook that runs after each response."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self._inner = inner
        self.received: list[tuple[str, str, str | None]] = []
        self.after_response: Callable[[], None] | None = None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        self.received.append((request.method, request.url.path, response.headers.get("request-id")))
        if self.after_response is not None:
            hook, self.after_response = self.after_response, None
            hook()
        return response


async def _records(app: PersonaMcp) -> list[AuditRecord]:
    return [r async for r in iter_records(app.store, AuditFilter())]


async def test_the_spool_keeps_records_durably_and_a_repeated_drain_appends_each_once(tmp_path: Path) -> None:
    spool = OutcomeSpool.in_data_dir(tmp_path)
    events = [AuditEvent(kind="call.outcome", call_id=f"c{n}", outcome="ok") for n in range(3)]
    for event in events:
        spool.put(event)
    assert spool.pending() == 3
    assert (tmp_path / "audit-spool.jsonl").stat().st_mode & 0o777 == 0o600

    appended: list[AuditEvent] = []

    async def append(event: AuditEvent) -> None:
        if len(appended) == 2 and not getattr(append, "failed", False):
            append.failed = True  # type: ignore[attr-defined]
            raise RuntimeError("store failed again mid-drain")
        appended.append(event)

    async def recorded(event: AuditEvent) -> bool:
        return any(e.call_id == event.call_id for e in appended)

    with pytest.raises(RuntimeError):
        await spool.drain(append, recorded)
    assert spool.pending() == 3, "an interrupted drain keeps everything"
    assert await spool.drain(append, recorded) == 1, "the second drain skips what the first appended"
    assert [e.call_id for e in appended] == ["c0", "c1", "c2"]
    assert spool.pending() == 0 and not spool.has_entries()
    assert all(e.details and "spooled_at" in e.details for e in appended)


async def test_a_read_is_refused_before_persona_while_the_store_is_known_to_be_failing(
    tmp_path: Path,
) -> None:
    upstream = _RecordingTransport(SandboxTransport(sandbox_app("demo")))
    settings = sandbox_settings(tmp_path)
    async with open_server(settings, transport="memory", persona_transport=upstream) as app:
        assert isinstance(app.caller_source, StaticTokenCallers)
        app.caller_source.token = await issue_grant(app, ["accounts:read"])
        async with Client(app.server) as client:
            # The store fails after the request: the outcome goes to the spool, the agent is told.
            upstream.after_response = lambda: _store_fails(tmp_path, True)
            with pytest.raises(MCPError) as spooled:
                await client.call_tool("list_accounts", {})
            assert "local spool" in spooled.value.message
            assert app.audit.spooled == 1
            assert len(upstream.received) == 1

            # Known to be failing: refused before the upstream request.
            with pytest.raises(MCPError) as refused:
                await client.call_tool("list_accounts", {})
            assert "audit log cannot be written" in refused.value.message
            assert len(upstream.received) == 1, "nothing reached Persona"

            # The store is back: the next call writes its intent, the spool drains, the call succeeds.
            _store_fails(tmp_path, False)
            result = await client.call_tool("list_accounts", {})
            assert not result.is_error
            assert len(upstream.received) == 2
        # The spool drains in the background once a commit succeeds: wait for that drain to finish.
        await app.audit.drain_spool()
        records = await _records(app)

    outcomes = [r for r in records if r.kind == "call.outcome"]
    request_ids = [request_id for _, _, request_id in upstream.received]
    for request_id in request_ids:
        assert [r.persona_request_id for r in outcomes].count(request_id) == 1
    spooled_record = next(r for r in outcomes if r.persona_request_id == request_ids[0])
    assert (
        spooled_record.outcome == "ok" and spooled_record.details and "spooled_at" in spooled_record.details
    )
    assert app.audit.spooled == 0


async def test_a_write_whose_result_was_known_is_recorded_with_that_result_after_a_restart(
    tmp_path: Path,
) -> None:
    sandbox = sandbox_app("demo")
    upstream = _RecordingTransport(SandboxTransport(sandbox))
    settings = sandbox_settings(tmp_path)
    async with open_server(settings, transport="memory", persona_transport=upstream) as app:
        assert isinstance(app.caller_source, StaticTokenCallers)
        app.caller_source.token = await issue_grant(app, ["accounts:read", "accounts:write"])
        key = app.audit.public_key
        async with Client(app.server) as client:
            upstream.after_response = lambda: _store_fails(tmp_path, True)
            with pytest.raises(MCPError) as spooled:
                await client.call_tool("create_account", {"reference_id": "spooled-ref"})
        message = spooled.value.message
        assert "The change was made in Persona" in message and "Do not repeat" in message
        assert "safe" not in message.lower()

    _store_fails(tmp_path, False)
    async with open_server(settings, transport="memory", persona_transport=upstream) as reopened:
        records = await _records(reopened)
        report = await verify_log(reopened.store, trusted_keys=[key, reopened.audit.public_key])
    intent = next(r for r in records if r.kind == "call.intent" and r.tool == "create_account")
    of_call = [r for r in records if r.call_id == intent.call_id]
    assert [r.kind for r in of_call] == ["call.intent", "call.outcome"], "not outcome_unknown"
    outcome = of_call[1]
    assert outcome.outcome == "ok" and outcome.upstream_status == 201
    assert outcome.object_ids and outcome.object_ids[0].startswith("act_")
    assert outcome.idempotency_key == intent.idempotency_key
    assert report.ok
