"""Reports, cases, verifications and the wait_for tools, as a reviewer's agent uses them through the MCP
client against the sandbox: coverage of the 48 operations, the listing budget of each toolset, scopes,
masking, and waiting for a report with progress notifications and a pluggable change source."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from persona_mcp.auth.scopes import Scope
from persona_mcp.pii import MASK
from persona_mcp.sandbox import SandboxConfig, create_app
from persona_mcp.testing import Harness, approvals_waived, connected
from persona_mcp.tools import catalogue, waiting
from persona_mcp.tools.contract import operations
from persona_mcp.tools.mcp_schema import to_mcp_tool

pytestmark = pytest.mark.anyio

FAMILIES = ("reports", "cases", "verifications")
TOOLSETS = ("reports", "cases", "verifications", "business_verifications")
TOOLSET_BUDGET = 24 * 1024


def _listing_bytes(names: list[str]) -> int:
    tools = [
        to_mcp_tool(catalogue.get(n)).model_dump(by_alias=True, exclude_none=True, mode="json") for n in names
    ]
    return len(json.dumps({"tools": tools}, separators=(",", ":"), ensure_ascii=False).encode())


def test_every_operation_of_the_reviewer_families_maps_to_exactly_one_tool() -> None:
    family_ops = [op["id"] for op in operations() if op["family"] in FAMILIES]
    covered = catalogue.covered_operations()
    assert len(family_ops) == 48  # 13 reports + 13 cases + 22 verifications, counted from the catalogue
    assert {op: covered.get(op, []) for op in family_ops if len(covered.get(op, [])) != 1} == {}


def test_the_wait_tools_poll_operations_that_other_tools_own() -> None:
    for name, owner in (("wait_for_report", "get_report"), ("wait_for_inquiry", "get_inquiry")):
        spec = catalogue.get(name)
        assert spec.operations == () and spec.polls == catalogue.get(owner).operations
        assert spec.annotations.open_world and spec.annotations.read_only


@pytest.mark.parametrize("toolset", TOOLSETS)
def test_each_reviewer_toolset_lists_in_at_most_24_kib(toolset: str) -> None:
    names = [spec.name for spec in catalogue.in_toolset(toolset)]
    size = _listing_bytes(names)
    print(f"tools/list of toolset {toolset} ({len(names)} tools): {size} bytes")
    assert names and size <= TOOLSET_BUDGET


def test_decisions_and_erasures_have_their_own_scopes() -> None:
    assert catalogue.get("dismiss_report_matches").scope is Scope.REPORTS_DECIDE
    assert catalogue.get("set_case_status").scope is Scope.CASES_DECIDE
    for name, scope in (
        ("redact_report", Scope.REPORTS_DELETE),
        ("redact_case", Scope.CASES_DELETE),
        ("redact_verification", Scope.VERIFICATIONS_DELETE),
    ):
        assert catalogue.get(name).scope is scope
    from persona_mcp.auth.scopes import expand

    for write in (Scope.REPORTS_WRITE, Scope.CASES_WRITE, Scope.VERIFICATIONS_WRITE):
        assert not {s for s in expand({write}) if s.value.endswith((":decide", ":delete"))}


# -- through the MCP client -----------------------------------------------------------------------------


def _text(result: types.CallToolResult) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


def _ids(h: Harness, type_: str) -> list[str]:
    return [r.id for r in h.sandbox.of_type(lambda r: r.type == type_)]


@pytest.fixture
async def reviewer(tmp_path: Path) -> AsyncIterator[Harness]:
    # These tests exercise the tools themselves, not the four-eyes flow (tests/e2e/test_approvals.py).
    async with connected(tmp_path, [*Scope], no_approval=approvals_waived()) as h:
        yield h


async def test_a_grant_sees_exactly_the_reviewer_tools_of_its_scopes(tmp_path: Path) -> None:
    async with connected(tmp_path, [Scope.REPORTS_WRITE]) as h:
        listed = {tool.name for tool in (await h.client.list_tools()).tools}
        with pytest.raises(MCPError, match="reports:decide"):
            await h.client.call_tool("dismiss_report_matches", {"report_id": "rep_X1", "reason": "r"})
    assert {"create_report", "get_report", "wait_for_report", "tag_report"} <= listed
    assert not listed & {"dismiss_report_matches", "redact_report", "get_case", "get_verification"}


async def test_an_id_of_the_wrong_kind_is_refused_before_anything_is_sent(reviewer: Harness) -> None:
    inquiry = _ids(reviewer, "inquiry")[0]
    before = dict(reviewer.sandbox.counters)
    result = await reviewer.client.call_tool("get_report", {"report_id": inquiry})
    assert result.is_error and "report_id" in _text(result) and "inq_... is an inquiry id" in _text(result)
    assert dict(reviewer.sandbox.counters) == before


async def test_a_screening_runs_pending_then_ready_and_wait_for_reports_progress(reviewer: Harness) -> None:
    created = await reviewer.client.call_tool(
        "create_report", {"report_type": "watchlist", "name_first": "Sanctioned", "name_last": "Person"}
    )
    assert not created.is_error, _text(created)
    assert created.structured_content is not None
    report_id = created.structured_content["id"]
    assert created.structured_content["status"] == "pending"

    previous = waiting.set_waiter(waiting.PollingWaiter(0.01))
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    try:
        waited = await reviewer.client.call_tool(
            "wait_for_report", {"report_id": report_id, "timeout_seconds": 30}, progress_callback=on_progress
        )
    finally:
        waiting.set_waiter(previous)
    assert waited.structured_content is not None, _text(waited)
    assert waited.structured_content["reached"] is True
    assert waited.structured_content["status"] == "ready" and waited.structured_content["checks"] > 1
    assert progress and all(total == 30 and message == "status pending" for _d, total, message in progress)
    report = await reviewer.client.call_tool("get_report", {"report_id": report_id})
    assert report.structured_content is not None and report.structured_content["has_match"] is True


async def test_a_wait_that_runs_out_says_still_pending_and_what_to_do(tmp_path: Path) -> None:
    sandbox = create_app(SandboxConfig(seed="demo", report_ticks=10_000))
    async with connected(tmp_path, [Scope.REPORTS_WRITE], sandbox=sandbox) as h:
        created = await h.client.call_tool(
            "create_report", {"report_type": "politically-exposed-person", "term": "Jane Doe"}
        )
        assert created.structured_content is not None, _text(created)
        previous = waiting.set_waiter(waiting.PollingWaiter(0.2))
        try:
            waited = await h.client.call_tool(
                "wait_for_report", {"report_id": created.structured_content["id"], "timeout_seconds": 1}
            )
        finally:
            waiting.set_waiter(previous)
    assert not waited.is_error and waited.structured_content is not None
    assert waited.structured_content["reached"] is False and waited.structured_content["status"] == "pending"
    assert "wait_for_report again" in waited.structured_content["next_step"]


class _EventSource:
    """Stands in for a webhook receiver: it is asked to wait on the object, and wakes the wait at once."""

    def __init__(self) -> None:
        self.waited_on: list[str] = []

    async def wait(self, object_id: str, timeout: float) -> None:
        self.waited_on.append(object_id)


async def test_an_event_source_can_wake_the_wait_instead_of_the_timer(reviewer: Harness) -> None:
    inquiry = _ids(reviewer, "inquiry")[-1]  # oldest first: the seed's `created` inquiry
    await reviewer.client.call_tool(
        "simulate_inquiry_actions", {"inquiry_id": inquiry, "actions": [{"type": "start_inquiry"}]}
    )
    source = _EventSource()
    previous = waiting.set_waiter(source)
    try:
        async with _completing_after_first_wait(reviewer, inquiry, source):
            waited = await reviewer.client.call_tool(
                "wait_for_inquiry", {"inquiry_id": inquiry, "statuses": ["completed"], "timeout_seconds": 60}
            )
    finally:
        waiting.set_waiter(previous)
    assert waited.structured_content is not None, _text(waited)
    assert waited.structured_content["reached"] is True and source.waited_on[:1] == [inquiry]


class _completing_after_first_wait:
    """Completes the inquiry (as Persona would, in the background) when the wait first asks for a change."""

    def __init__(self, h: Harness, inquiry: str, source: _EventSource) -> None:
        self.h, self.inquiry, self.source = h, inquiry, source

    async def __aenter__(self) -> None:
        from persona_mcp.sandbox.domain import inquiries

        original = self.source.wait

        async def wait(object_id: str, timeout: float) -> None:
            if not self.source.waited_on:
                inquiries.complete(self.h.sandbox, self.h.sandbox.records[self.inquiry])
            await original(object_id, timeout)

        self.source.wait = wait  # type: ignore[method-assign]

    async def __aexit__(self, *exc: object) -> None:
        return None


async def test_dismissing_matches_clears_the_hit_and_is_kept_in_history(reviewer: Harness) -> None:
    report = _ids(reviewer, "report/watchlist")[0]
    dismissed = await reviewer.client.call_tool(
        "dismiss_report_matches", {"report_id": report, "reason": "Different birthdate"}
    )
    assert dismissed.structured_content is not None, _text(dismissed)
    assert dismissed.structured_content["has_match"] is False
    history = await reviewer.client.call_tool("list_report_history", {"report_id": report})
    assert history.structured_content is not None
    assert [item["type"] for item in history.structured_content["items"]] == ["dismiss", "run"]


async def test_report_findings_and_verification_data_are_masked_without_pii_read(tmp_path: Path) -> None:
    async with connected(tmp_path, [Scope.REPORTS_READ, Scope.VERIFICATIONS_READ]) as h:
        report = await h.client.call_tool("get_report", {"report_id": _ids(h, "report/watchlist")[0]})
        government_id = _ids(h, "verification/government-id")[0]
        verification = await h.client.call_tool(
            "get_verification", {"verification_id": government_id, "verification_type": "government-id"}
        )
    assert report.structured_content is not None and verification.structured_content is not None
    assert report.structured_content["findings"]["term"] == MASK
    assert verification.structured_content["details"]["name-first"] == MASK
    assert "files.withpersona.com" not in verification.model_dump_json()
    assert "Sanctioned" not in report.model_dump_json()


async def test_a_typed_read_of_another_type_is_not_found(reviewer: Harness) -> None:
    selfie = _ids(reviewer, "verification/selfie")[0]
    typed = await reviewer.client.call_tool(
        "get_verification", {"verification_id": selfie, "verification_type": "selfie"}
    )
    wrong = await reviewer.client.call_tool(
        "get_verification", {"verification_id": selfie, "verification_type": "document"}
    )
    assert typed.structured_content is not None and typed.structured_content["type"] == "verification/selfie"
    assert wrong.is_error and selfie in _text(wrong)


async def test_an_investigation_lock_blocks_redaction_until_unlocked(reviewer: Harness) -> None:
    verification = _ids(reviewer, "verification/database")[0]
    locked = await reviewer.client.call_tool(
        "set_verification_lock", {"verification_id": verification, "locked": True}
    )
    assert not locked.is_error, _text(locked)
    refused = await reviewer.client.call_tool("redact_verification", {"verification_id": verification})
    assert refused.is_error and "unlock it first" in _text(refused)
    await reviewer.client.call_tool(
        "set_verification_lock", {"verification_id": verification, "locked": False}
    )
    redacted = await reviewer.client.call_tool("redact_verification", {"verification_id": verification})
    assert not redacted.is_error, _text(redacted)


async def test_a_case_is_opened_worked_and_decided(reviewer: Harness) -> None:
    inquiry, report = _ids(reviewer, "inquiry")[0], _ids(reviewer, "report/watchlist")[0]
    created = await reviewer.client.call_tool(
        "create_case",
        {"case_template_id": "ctmpl_Review1", "object_ids": [inquiry], "sla_expires_in_seconds": 3600},
    )
    assert created.structured_content is not None, _text(created)
    case = created.structured_content["id"]
    calls: list[tuple[str, dict[str, Any]]] = [
        ("attach_case_objects", {"case_id": case, "object_ids": [report]}),
        ("attach_case_objects", {"case_id": case, "object_ids": [inquiry], "detach": True}),
        ("assign_case", {"case_id": case, "user_email_address": "reviewer@example.com"}),
        ("tag_case", {"case_id": case, "mode": "add", "tag_names": ["sanctions"]}),
        ("set_case_status", {"case_id": case, "status": "Approved"}),
    ]
    for name, args in calls:
        result = await reviewer.client.call_tool(name, args)
        assert not result.is_error, f"{name}: {_text(result)}"
    read = await reviewer.client.call_tool("get_case", {"case_id": case})
    assert read.structured_content is not None
    assert read.structured_content["report_ids"] == [report] and read.structured_content["inquiry_ids"] == []
    assert read.structured_content["status"] == "Approved" and read.structured_content["tags"] == [
        "sanctions"
    ]
    assert read.structured_content["resolved_at"]
    found = await reviewer.client.call_tool(
        "search_cases", {"conditions": [{"attribute": "status", "value": "Approved"}]}
    )
    assert found.structured_content is not None and [i["id"] for i in found.structured_content["items"]] == [
        case
    ]


async def test_tag_tool_takes_one_name_to_add_or_remove(reviewer: Harness) -> None:
    report = _ids(reviewer, "report/watchlist")[0]
    refused = await reviewer.client.call_tool(
        "tag_report", {"report_id": report, "mode": "add", "tag_names": ["a", "b"]}
    )
    assert refused.is_error and "tag_names" in _text(refused)
    replaced = await reviewer.client.call_tool(
        "tag_report", {"report_id": report, "mode": "set", "tag_names": ["a", "b"]}
    )
    assert replaced.structured_content is not None and replaced.structured_content["tags"] == ["a", "b"]


async def test_a_verified_event_about_the_object_wakes_the_wait_before_the_next_poll(
    reviewer: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the webhook receiver's store in place (issue 15), a wait does not sleep out its polling
    interval: the event about the object wakes it, and the next read sees the change."""
    from persona_mcp.events.store import EnvironmentEvents
    from persona_mcp.sandbox.domain import inquiries

    inquiry = _ids(reviewer, "inquiry")[-1]
    await reviewer.client.call_tool(
        "simulate_inquiry_actions", {"inquiry_id": inquiry, "actions": [{"type": "start_inquiry"}]}
    )
    asked: list[tuple[str, float]] = []

    async def event_arrives(self: EnvironmentEvents, object_id: str, **kwargs: Any) -> None:
        asked.append((object_id, kwargs["timeout"]))
        inquiries.complete(reviewer.sandbox, reviewer.sandbox.records[inquiry])  # Persona's change...
        return None  # ...and the verified event announcing it wakes the wait

    monkeypatch.setattr(EnvironmentEvents, "wait_for", event_arrives)
    previous = waiting.set_waiter(waiting.PollingWaiter(interval=55))  # polling alone would outlast it
    try:
        waited = await reviewer.client.call_tool(
            "wait_for_inquiry", {"inquiry_id": inquiry, "statuses": ["completed"], "timeout_seconds": 5}
        )
    finally:
        waiting.set_waiter(previous)
    assert waited.structured_content is not None, _text(waited)
    assert waited.structured_content["reached"] is True and waited.structured_content["checks"] == 2
    assert [object_id for object_id, _ in asked] == [inquiry] and asked[0][1] <= 5
