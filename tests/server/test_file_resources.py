"""The inquiry PDF comes back as an MCP resource of the calling grant: read, refused, expired, audited.

The whole stack runs in process (sandbox over ASGI, a real SQLite file, the SDK's in-memory client).
Ages are set with `os.utime`, so nothing waits for real time.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio.to_thread
import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError
from typer.testing import CliRunner

from persona_mcp.audit import AuditRecord
from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.auth.scopes import Scope
from persona_mcp.cli.audit import app as audit_cli
from persona_mcp.server.errors import ACCESS_DENIED
from persona_mcp.testing import Harness, connected, issue_grant
from persona_mcp.tools.saved_files import FILE_URI_PREFIX, saved_files_dir

#: A trigger that makes SQLite refuse every audit append (as a full disk would).
REFUSE_INSERTS = (
    "CREATE TRIGGER refuse_insert BEFORE INSERT ON audit_records "
    "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
)

pytestmark = pytest.mark.anyio

READER = [Scope.INQUIRIES_READ, Scope.PII_READ]


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    async with connected(tmp_path, READER, principal="reviewer") as h:
        yield h


def _inquiry(h: Harness, status: str = "approved") -> str:
    return next(
        r.id for r in h.sandbox.records.values() if r.type == "inquiry" and r.attributes["status"] == status
    )


async def _print(h: Harness, inquiry: str) -> tuple[dict[str, Any], types.CallToolResult]:
    result = await h.client.call_tool("print_inquiry_pdf", {"inquiry_id": inquiry})
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content, result


async def _read(h: Harness, uri: str) -> types.BlobResourceContents:
    read = await h.client.read_resource(uri)
    (contents,) = read.contents
    assert isinstance(contents, types.BlobResourceContents)
    return contents


async def _records(h: Harness) -> list[AuditRecord]:
    return [record async for record in iter_records(h.app.store, AuditFilter())]


async def _reads(h: Harness) -> list[AuditRecord]:
    return [r for r in await _records(h) if r.tool == "resources/read"]


async def _as(h: Harness, scopes: list[Scope], principal: str) -> None:
    """Switch the connection's caller to a new grant (the in-memory client has one token at a time)."""
    h.app.caller_source.token = await issue_grant(h.app, scopes, principal=principal)  # type: ignore[attr-defined]


async def test_the_pdf_is_a_resource_link_whose_bytes_the_client_reads_back(harness: Harness) -> None:
    inquiry = _inquiry(harness)
    result, call = await _print(harness, inquiry)
    assert result["uri"].startswith(FILE_URI_PREFIX)
    links = [block for block in call.content if isinstance(block, types.ResourceLink)]
    assert [(link.uri, link.mime_type, link.size) for link in links] == [
        (result["uri"], "application/pdf", result["size"])
    ]
    contents = await _read(harness, result["uri"])
    pdf = base64.b64decode(contents.blob)
    assert pdf.startswith(b"%PDF") and inquiry.encode() in pdf
    assert (contents.uri, contents.mime_type, len(pdf)) == (result["uri"], "application/pdf", result["size"])


async def test_the_server_declares_resources_and_lists_the_callers_files(harness: Harness) -> None:
    assert harness.client.server_capabilities.resources is not None
    assert (await harness.client.list_resources()).resources == []
    result, _ = await _print(harness, _inquiry(harness))
    listed = (await harness.client.list_resources()).resources
    assert [(r.uri, r.mime_type) for r in listed] == [(result["uri"], "application/pdf")]


async def test_printing_the_same_pdf_again_is_the_same_resource_and_writes_no_new_file(
    harness: Harness,
) -> None:
    inquiry = _inquiry(harness)
    first, _ = await _print(harness, inquiry)
    files = sorted(p.name for p in saved_files_dir(harness.app.settings.data_dir).iterdir())
    second, _ = await _print(harness, inquiry)
    assert second["uri"] == first["uri"] and second["sha256"] == first["sha256"]
    assert sorted(p.name for p in saved_files_dir(harness.app.settings.data_dir).iterdir()) == files
    assert len(files) == 2, files  # the bytes and what the server knows about them
    other, _ = await _print(harness, _inquiry(harness, "declined"))
    assert other["uri"] != first["uri"]


async def test_a_caller_of_another_grant_cannot_read_the_file_nor_tell_it_exists(harness: Harness) -> None:
    result, _ = await _print(harness, _inquiry(harness))
    await _as(harness, READER, principal="someone-else")
    with pytest.raises(MCPError) as other:
        await harness.client.read_resource(result["uri"])
    with pytest.raises(MCPError) as missing:
        await harness.client.read_resource(FILE_URI_PREFIX + "0" * 32)
    assert other.value.error.code == missing.value.error.code == types.INVALID_PARAMS
    assert other.value.error.message.replace(result["uri"], "<uri>") == missing.value.error.message.replace(
        FILE_URI_PREFIX + "0" * 32, "<uri>"
    )
    assert (await harness.client.list_resources()).resources == []
    denied = [(r.kind, r.principal, r.reason) for r in await _reads(harness)]
    assert denied == [
        ("call.denied", "someone-else", "resource of another grant"),
        ("call.denied", "someone-else", "unknown resource"),
    ]


async def test_a_read_after_the_retention_fails_cleanly_and_says_how_to_get_a_fresh_copy(
    harness: Harness,
) -> None:
    result, _ = await _print(harness, _inquiry(harness))
    retention = harness.app.settings.file_retention_seconds
    for path in saved_files_dir(harness.app.settings.data_dir).iterdir():
        aged = path.stat().st_mtime - retention - 1
        os.utime(path, (aged, aged))
    with pytest.raises(MCPError) as expired:
        await harness.client.read_resource(result["uri"])
    assert expired.value.error.code == types.INVALID_PARAMS
    assert (
        "expired" in expired.value.error.message and "print_inquiry_pdf again" in expired.value.error.message
    )
    (record,) = await _reads(harness)
    assert (record.kind, record.outcome, record.error_kind) == ("call.outcome", "error", "expired")
    again, _ = await _print(harness, _inquiry(harness))
    assert again["uri"] == result["uri"]
    assert (await _read(harness, again["uri"])).blob  # printing again renews the same resource


async def test_every_read_is_in_the_audit_log_with_the_inquiry_and_the_tool_it_came_from(
    harness: Harness,
) -> None:
    inquiry = _inquiry(harness)
    result, _ = await _print(harness, inquiry)
    await _read(harness, result["uri"])
    (record,) = await _reads(harness)
    assert (record.kind, record.decision, record.outcome) == ("call.outcome", "allowed", "ok")
    assert (record.principal, record.scope, record.object_ids) == ("reviewer", "inquiries:read", [inquiry])
    assert record.details == {"uri": result["uri"], "tool": "print_inquiry_pdf"}


async def test_a_read_is_refused_when_its_record_cannot_be_written(harness: Harness) -> None:
    result, _ = await _print(harness, _inquiry(harness))
    with sqlite3.connect(harness.app.settings.data_dir / "persona-mcp.sqlite3") as db:
        db.execute(REFUSE_INSERTS)  # the audit store refuses appends: nothing may be read unrecorded
    with pytest.raises(MCPError) as refused:
        await harness.client.read_resource(result["uri"])
    assert "audit log cannot be written" in refused.value.error.message


async def test_a_revoked_grant_cannot_read_what_it_printed(harness: Harness) -> None:
    result, _ = await _print(harness, _inquiry(harness))
    caller = await harness.app.callers.resolve(harness.token)
    await harness.app.grants.revoke(caller.grant.id)
    harness.app.callers.forget()  # no wait for the resolver's short cache
    with pytest.raises(MCPError) as refused:
        await harness.client.read_resource(result["uri"])
    assert refused.value.error.code == ACCESS_DENIED
    (record,) = await _reads(harness)
    assert (record.kind, record.grant_id) == ("call.denied", caller.grant.id)


async def test_the_ocsf_export_calls_a_resource_read_a_read(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, _ = await _print(harness, _inquiry(harness))
    await _read(harness, result["uri"])
    monkeypatch.setenv("PERSONA_MCP_DATA_DIR", str(harness.app.settings.data_dir))
    monkeypatch.delenv("PERSONA_MCP_DATABASE_URL", raising=False)
    # The CLI runs its own event loop: in a worker thread, as it would in its own process.
    exported = await anyio.to_thread.run_sync(
        lambda: CliRunner().invoke(audit_cli, ["export", "--format", "ocsf"])
    )
    assert exported.exit_code == 0, exported.output
    events = [json.loads(line) for line in exported.output.splitlines() if line.startswith("{")]
    reads = [e for e in events if e["api"]["operation"] == "resources/read"]
    assert [(e["activity_id"], e["activity_name"]) for e in reads] == [(2, "Read")]
