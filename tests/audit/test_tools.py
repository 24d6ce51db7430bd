"""The reviewer tools read and verify the log through the reader the server attaches to the context."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from persona_mcp.audit import AuditEvent, AuditLog, AuditLogReader
from persona_mcp.auth.scopes import Scope
from persona_mcp.store import Store
from persona_mcp.tools.audit_log import (
    TOOLS,
    AuditLogUnavailableError,
    QueryAuditLog,
    VerifyAuditLog,
    query_audit_log,
    verify_audit_log,
)
from persona_mcp.tools.spec import Effect, ToolContext

from ._support import drop_append_only_triggers, execute, fill

pytestmark = pytest.mark.anyio


def _context(reader: AuditLogReader | None, data_dir: Path) -> ToolContext:
    ctx = ToolContext(persona=cast(Any, None), idempotency_key=None, data_dir=data_dir)
    ctx.audit = reader
    return ctx


def test_reviewer_tools_need_audit_read_and_never_call_persona() -> None:
    assert {spec.name for spec in TOOLS} == {"query_audit_log", "verify_audit_log"}
    for spec in TOOLS:
        assert spec.toolset == "audit"
        assert spec.scope is Scope.AUDIT_READ
        assert spec.effect is Effect.READ
        assert spec.operations == ()


async def test_query_audit_log_filters_and_finds_a_person_by_digest(
    audit_log: AuditLog, store: Store, data_dir: Path
) -> None:
    await fill(audit_log, 12)
    await audit_log.append(
        AuditEvent(
            kind="call.denied",
            call_id="denied-1",
            principal="agent-x",
            tool="approve_inquiry",
            decision="denied",
            reason="missing scope inquiries:decide",
            arguments={"email": audit_log.digester.digest_email("Jane@Example.com")},
        )
    )
    ctx = _context(AuditLogReader.for_log(audit_log), data_dir)

    denied = await query_audit_log(ctx, QueryAuditLog(decision="denied"))
    assert [r.call_id for r in denied.records] == ["denied-1"]
    by_email = await query_audit_log(ctx, QueryAuditLog(email=" jane@example.COM "))
    assert [r.call_id for r in by_email.records] == ["denied-1"]
    touching = await query_audit_log(ctx, QueryAuditLog(object_id="act_3"))
    assert [r.object_ids for r in touching.records] == [["act_3"]]
    limited = await query_audit_log(ctx, QueryAuditLog(limit=5))
    assert len(limited.records) == 5 and limited.truncated
    assert limited.records[0].seq > limited.records[-1].seq


async def test_verify_audit_log_reports_the_first_break(
    audit_log: AuditLog, store: Store, data_dir: Path
) -> None:
    await fill(audit_log, 20)
    await audit_log.checkpoint()  # kept in the file outside the database too: it anchors the log
    ctx = _context(AuditLogReader.for_log(audit_log), data_dir)
    intact = await verify_audit_log(ctx, VerifyAuditLog())
    assert intact.ok and intact.status == "ok" and intact.anchored_through_seq == 20

    await drop_append_only_triggers(store)
    await execute(store, "DELETE FROM audit_records WHERE seq = 7")
    result = await verify_audit_log(ctx, VerifyAuditLog())
    assert not result.ok
    assert (result.first_break_kind, result.first_break_seq) == ("deleted", 7)


async def test_a_context_without_the_audit_reader_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AuditLogUnavailableError):
        await verify_audit_log(_context(None, tmp_path), VerifyAuditLog())
