"""The call pipeline through the SDK's in-memory client: listing per caller, refusals, audit, masking."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.shared.exceptions import MCPError
from sqlalchemy import text
from structlog.testing import capture_logs

from persona_mcp.audit import AuditRecord
from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.auth.scopes import Scope
from persona_mcp.pii import MASK
from persona_mcp.testing import connected, sandbox_app

pytestmark = pytest.mark.anyio

READ_ONLY = ["accounts:read", "inquiries:read", "events:read"]


async def _records(harness: Any) -> list[AuditRecord]:
    return [record async for record in iter_records(harness.app.store, AuditFilter())]


async def test_a_read_only_grant_lists_only_read_tools(tmp_path: Path) -> None:
    async with connected(tmp_path, READ_ONLY) as h:
        listed = await h.client.list_tools()
        names = {tool.name for tool in listed.tools}
        assert "get_account" in names and "list_inquiries" in names
        for tool in listed.tools:
            assert tool.annotations is not None and tool.annotations.read_only_hint is True, tool.name
        assert "create_account" not in names
        assert "list_webhooks" not in names


async def test_a_tool_outside_the_grant_is_refused_naming_the_missing_scope_and_audited(
    tmp_path: Path,
) -> None:
    async with connected(tmp_path, READ_ONLY) as h:
        before = dict(h.sandbox.counters)
        with pytest.raises(MCPError) as refused:
            await h.client.call_tool("create_account", {"reference_id": "ref-1"})
        assert "accounts:write" in refused.value.message
        assert dict(h.sandbox.counters) == before, "nothing was sent upstream"
        denied = [r for r in await _records(h) if r.kind == "call.denied"]
        assert denied and denied[-1].tool == "create_account" and denied[-1].decision == "denied"


async def test_an_unknown_tool_is_refused_like_a_missing_one(tmp_path: Path) -> None:
    async with connected(tmp_path, READ_ONLY) as h:
        with pytest.raises(MCPError) as refused:
            await h.client.call_tool("drop_database", {})
        assert "Unknown tool" in refused.value.message


async def test_invalid_arguments_name_the_field_and_send_nothing_upstream(tmp_path: Path) -> None:
    async with connected(tmp_path, READ_ONLY) as h:
        before = dict(h.sandbox.counters)
        result = await h.client.call_tool("get_account", {"account_id": "act_../../inquiries"})
        assert result.is_error
        message = result.content[0].text  # type: ignore[union-attr]
        assert "account_id" in message
        assert dict(h.sandbox.counters) == before


async def test_a_write_is_preceded_by_a_durable_intent_carrying_the_idempotency_key(tmp_path: Path) -> None:
    async with connected(tmp_path, ["accounts:write"]) as h:
        result = await h.client.call_tool("create_account", {"reference_id": "user-42"})
        assert not result.is_error, result.content
        records = await _records(h)
        intent = next(r for r in records if r.kind == "call.intent" and r.tool == "create_account")
        outcome = next(r for r in records if r.kind == "call.outcome" and r.call_id == intent.call_id)
        assert intent.seq < outcome.seq
        assert intent.idempotency_key and intent.idempotency_key == outcome.idempotency_key
        assert outcome.outcome == "ok" and outcome.upstream_status in (200, 201)
        assert outcome.persona_request_id and outcome.persona_request_id.startswith("req_")
        assert result.structured_content is not None
        assert result.structured_content["id"] in outcome.object_ids


async def _inquiry_with_personal_data(h: Any) -> str:
    page = await h.client.call_tool("list_inquiries", {"page_size": 50})
    assert not page.is_error, page.content
    for item in page.structured_content["items"]:
        result = await h.client.call_tool("get_inquiry", {"inquiry_id": item["id"]})
        if any(value is not None for value in (result.structured_content.get("fields") or {}).values()):
            return str(item["id"])
    raise AssertionError("the demo seed has no inquiry with personal data")


async def test_personal_data_is_masked_without_pii_read_and_shown_with_it(tmp_path: Path) -> None:
    upstream = sandbox_app("demo")
    async with connected(tmp_path / "clear", ["inquiries:read", Scope.PII_READ], sandbox=upstream) as h:
        inquiry_id = await _inquiry_with_personal_data(h)
        clear = await h.client.call_tool("get_inquiry", {"inquiry_id": inquiry_id})
    assert clear.meta is not None and clear.meta.get("persona-mcp/pii-masked") is False
    assert "[masked" not in str(clear.structured_content)
    async with connected(tmp_path / "masked", ["inquiries:read"], sandbox=upstream) as h:
        masked = await h.client.call_tool("get_inquiry", {"inquiry_id": inquiry_id})
    assert masked.meta is not None and masked.meta.get("persona-mcp/pii-masked") is True
    fields = masked.structured_content["fields"]
    assert all(value in (None, MASK) for value in fields.values())
    assert MASK in fields.values()
    assert masked.structured_content["id"] == inquiry_id, "non-personal fields stay readable"
    assert any("masked" in getattr(block, "text", "") for block in masked.content[1:])


async def test_without_a_token_no_tools_are_listed_or_callable(tmp_path: Path) -> None:
    async with connected(tmp_path, READ_ONLY) as h:
        h.app.caller_source.token = None  # type: ignore[attr-defined]
        assert (await h.client.list_tools()).tools == []
        with pytest.raises(MCPError):
            await h.client.call_tool("list_accounts", {})


async def test_a_revoked_grant_is_refused_on_its_next_call(tmp_path: Path) -> None:
    async with connected(tmp_path, READ_ONLY) as h:
        assert not (await h.client.call_tool("list_accounts", {})).is_error
        grant = (await h.app.callers.resolve(h.token)).grant  # type: ignore[union-attr]
        await h.app.grants.revoke(grant.id, actor="test")
        with anyio.fail_after(10):
            while True:
                try:
                    await h.client.call_tool("list_accounts", {})
                except MCPError:
                    break
                await anyio.sleep(0.2)  # the resolver may cache for at most a couple of seconds


async def test_when_the_audit_log_cannot_be_written_calls_are_refused_and_writes_never_start(
    tmp_path: Path,
) -> None:
    async with connected(tmp_path, ["accounts:write"]) as h:
        async with h.app.store.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE audit_records RENAME TO audit_records_gone"))
        accounts_before = h.sandbox.counters.get("accounts.create", 0)
        with pytest.raises(MCPError) as refused:
            await h.client.call_tool("create_account", {"reference_id": "never-created"})
        assert "audit" in refused.value.message.lower()
        assert h.sandbox.counters.get("accounts.create", 0) == accounts_before, "no intent, no upstream write"
        with pytest.raises(MCPError):
            await h.client.call_tool("list_accounts", {})  # a read's result is withheld too
        assert h.app.health()["status"] != "ok"


async def test_a_grant_over_its_rate_limit_is_refused_with_a_retry_after(tmp_path: Path) -> None:
    async with connected(tmp_path, READ_ONLY, rate_per_minute=2) as h:
        for _ in range(2):
            assert not (await h.client.call_tool("list_accounts", {})).is_error
        calls_before = dict(h.sandbox.counters)
        with pytest.raises(MCPError) as refused:
            await h.client.call_tool("list_accounts", {})
        assert "rate limit" in refused.value.message.lower()
        assert refused.value.data["retry_after_seconds"] >= 1
        assert dict(h.sandbox.counters) == calls_before
        denied = [r for r in await _records(h) if r.kind == "call.denied"]
        assert denied[-1].reason == "rate limited"


async def test_client_chosen_text_and_oversized_arguments_are_bounded_in_the_audit_log(
    tmp_path: Path,
) -> None:
    async with connected(tmp_path, READ_ONLY) as h:
        with pytest.raises(MCPError):
            await h.client.call_tool("x" * 5000, {"k" * 100_000: "v"})
        result = await h.client.call_tool("list_accounts", {"page_size": 5, "filler": "y" * 50_000})
        assert result.is_error
        records = await _records(h)
        unknown = next(r for r in records if r.kind == "call.denied" and r.reason == "unknown tool")
        assert unknown.tool is not None and len(unknown.tool) <= 128
        assert unknown.arguments is not None and set(unknown.arguments) == {"oversized_bytes", "digest"}
        invalid = records[-1]
        assert invalid.tool == "list_accounts" and invalid.arguments is not None
        assert invalid.arguments["oversized_bytes"] > 50_000
        assert "y" * 100 not in str(invalid.arguments)


async def _wait_for(h: Any, predicate: Any) -> AuditRecord:
    with anyio.fail_after(15):
        while True:
            for record in await _records(h):
                if predicate(record):
                    return record
            await anyio.sleep(0.05)


async def test_a_cancelled_write_is_recorded_with_an_unknown_outcome(tmp_path: Path) -> None:
    async with connected(tmp_path, ["accounts:write"]) as h:
        h.sandbox.faults.write_latency_ms = 3000
        with anyio.move_on_after(1):
            await h.client.call_tool("create_account", {"reference_id": "cancelled-1"})
        outcome = await _wait_for(h, lambda r: r.kind == "call.outcome" and r.error_kind == "cancelled")
        assert outcome.outcome == "unknown", "the write may have reached Persona"
        assert outcome.idempotency_key


async def test_a_write_whose_outcome_cannot_be_recorded_says_it_was_made_and_keeps_it_in_the_spool(
    tmp_path: Path,
) -> None:
    async with connected(tmp_path, ["accounts:write"]) as h:
        h.sandbox.faults.write_latency_ms = 1500
        async with anyio.create_task_group() as tg:
            answer: dict[str, Any] = {}

            async def call() -> None:
                try:
                    await h.client.call_tool("create_account", {"reference_id": "half-done"})
                except MCPError as exc:
                    answer["error"] = exc

            tg.start_soon(call)
            await _wait_for(h, lambda r: r.kind == "call.intent" and r.tool == "create_account")
            async with h.app.store.engine.begin() as conn:
                await conn.execute(text("ALTER TABLE audit_records RENAME TO audit_records_gone"))
        message = answer["error"].message
        assert "The change was made in Persona" in message and "Do not repeat" in message
        assert answer["error"].data["idempotency_key"]
        assert h.app.audit.spooled == 1, "the real outcome waits in the spool for the store"


async def test_a_tool_whose_result_cannot_be_masked_needs_pii_read_as_well(tmp_path: Path) -> None:
    async with connected(tmp_path / "without", ["inquiries:read"]) as h:
        assert "print_inquiry_pdf" not in {tool.name for tool in (await h.client.list_tools()).tools}
        with pytest.raises(MCPError) as refused:
            await h.client.call_tool("print_inquiry_pdf", {"inquiry_id": "inq_abc123"})
        assert "pii:read" in refused.value.message
    async with connected(tmp_path / "with", ["inquiries:read", "pii:read"]) as h:
        assert "print_inquiry_pdf" in {tool.name for tool in (await h.client.list_tools()).tools}


async def test_an_internal_failure_is_logged_by_place_never_by_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    personal = "".join(["jane", ".doe@example.com born 1980-01-01"])  # not on the raising line's source

    async def failing(ctx: Any, args: Any) -> Any:
        raise RuntimeError(personal)

    async with connected(tmp_path, READ_ONLY) as h:
        specs = h.app.pipeline._specs  # a handler that breaks the way a bug would
        monkeypatch.setitem(specs, "list_accounts", replace(specs["list_accounts"], handler=failing))
        with capture_logs() as logs:
            result = await h.client.call_tool("list_accounts", {})
    assert result.is_error and "failed inside the server" in result.content[0].text  # type: ignore[union-attr]
    failure = next(entry for entry in logs if entry["event"] == "tool handler failed")
    assert failure["error_type"] == "RuntimeError" and "test_pipeline.py" in failure["frames"]
    assert "jane.doe" not in str(logs)


async def test_a_handler_failing_after_its_write_reached_persona_leaves_the_outcome_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with connected(tmp_path, ["accounts:write"]) as h:
        specs = h.app.pipeline._specs
        original = specs["create_account"].handler

        async def breaks_after_the_write(ctx: Any, args: Any) -> Any:
            await original(ctx, args)  # the account is created in Persona ...
            raise RuntimeError("... and a bug fails the rest")

        monkeypatch.setitem(
            specs, "create_account", replace(specs["create_account"], handler=breaks_after_the_write)
        )
        result = await h.client.call_tool("create_account", {"reference_id": "made-then-broke"})
        records = await _records(h)
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert "safe" not in text.lower().replace("unsafe", "")
    outcome = next(r for r in records if r.kind == "call.outcome" and r.tool == "create_account")
    assert outcome.outcome == "unknown" and outcome.error_kind == "internal"
