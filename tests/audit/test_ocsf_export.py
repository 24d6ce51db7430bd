"""The OCSF export: every event valid OCSF 1.3.0 API Activity, one activity per tool from its declaration.

The schema is the OCSF project's own source files for 1.3.0, vendored under `ocsf/schema` (SOURCE.md);
`_ocsf.ocsf_problems` compiles and checks against them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from typer.testing import CliRunner

from persona_mcp.audit import AuditEvent, AuditRecord
from persona_mcp.audit.export import to_ocsf
from persona_mcp.cli.audit import app as audit_cli
from persona_mcp.cli.demo import DEMO_SCOPES, run_workflow
from persona_mcp.testing import connected
from persona_mcp.tools import CATALOGUE, Activity, Effect

from ._ocsf import ocsf_problems

runner = CliRunner()

OCSF_ACTIVITY = {Activity.CREATE: 1, Activity.READ: 2, Activity.UPDATE: 3, Activity.DELETE: 4}


async def _a_day_of_records(data_dir: Path) -> None:
    """Records of every shape: writes with intents, reads, a decision, a refusal, bad arguments, an
    unknown tool, a refused unauthenticated call, and the administrators' grant records."""

    def ignore(_tool: str, _arguments: dict[str, Any], _result: types.CallToolResult) -> None:
        return None

    async with connected(data_dir, DEMO_SCOPES) as h:
        reviewer = await h.app.review.approver("reviewer", admin=True)

        async def approve(approval_id: str) -> None:
            await h.app.review.decide(approval_id, reviewer, approve=True, reason="reviewed")

        await run_workflow(h.client, ignore, approve)
        assert not (await h.client.call_tool("list_accounts", {})).is_error
        assert (await h.client.call_tool("get_account", {"account_id": "not-an-id"})).is_error
        for refused in ("redact_account", "no_such_tool"):
            with pytest.raises(Exception):  # noqa: B017 - refusals are JSON-RPC errors, and recorded
                await h.client.call_tool(refused, {"account_id": "act_1"})
        await h.app.audit.append(
            AuditEvent(
                kind="call.denied",
                call_id="anon-1",
                tool="get_account",
                decision="denied",
                reason="unauthenticated",
            )
        )


@pytest.fixture
def exported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    anyio.run(_a_day_of_records, tmp_path)
    monkeypatch.setenv("PERSONA_MCP_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("PERSONA_MCP_DATABASE_URL", raising=False)
    monkeypatch.delenv("PERSONA_MCP_CONFIG", raising=False)
    out = tmp_path / "audit.ocsf.jsonl"
    result = runner.invoke(audit_cli, ["export", "--format", "ocsf", "--output", str(out)])
    assert result.exit_code == 0, result.output
    yield [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def test_every_exported_record_is_valid_ocsf_1_3_0_api_activity(exported: list[dict[str, Any]]) -> None:
    kinds = {event["unmapped"]["kind"] for event in exported}
    assert {"call.intent", "call.outcome", "call.denied", "admin.grant.created"} <= kinds
    problems = {event["metadata"]["sequence"]: ocsf_problems(event) for event in exported}
    assert {seq: found for seq, found in problems.items() if found} == {}


def test_admin_records_carry_a_request_uid_the_record_hash(exported: list[dict[str, Any]]) -> None:
    admin = [event for event in exported if event["unmapped"]["kind"].startswith("admin.")]
    assert admin
    assert all(event["api"]["request"]["uid"] == event["metadata"]["uid"] for event in admin)


def test_approve_inquiry_is_an_update_in_every_record_of_its_call(exported: list[dict[str, Any]]) -> None:
    records = [event for event in exported if event["api"]["operation"] == "approve_inquiry"]
    calls = [event for event in records if event["unmapped"]["kind"].startswith("call.")]
    assert sorted(event["unmapped"]["kind"] for event in calls) == ["call.intent", "call.outcome"]
    assert {(event["activity_id"], event["activity_name"]) for event in calls} == {(3, "Update")}
    # The decision waited for a person: its approval's records are exported too, as Other activity.
    approvals = [event for event in records if event["unmapped"]["kind"].startswith("approval.")]
    assert [event["unmapped"]["kind"] for event in approvals] == [
        "approval.requested",
        "approval.approved",
        "approval.used",
    ]
    assert {(event["activity_id"], event["activity_name"]) for event in approvals} == {(99, "Other")}


def test_every_tool_call_is_exported_with_its_declared_activity(exported: list[dict[str, Any]]) -> None:
    declared = {spec.name: OCSF_ACTIVITY[spec.api_activity] for spec in CATALOGUE}
    calls = [
        event
        for event in exported
        if event["api"]["operation"] in declared and not event["unmapped"]["kind"].startswith("approval.")
    ]
    assert {event["api"]["operation"] for event in calls} >= {
        "create_account",
        "create_inquiry",
        "approve_inquiry",
        "list_accounts",
        "redact_account",
    }
    assert [(e["api"]["operation"], e["activity_id"]) for e in calls] == [
        (e["api"]["operation"], declared[e["api"]["operation"]]) for e in calls
    ]
    unknown = [event for event in exported if event["api"]["operation"] == "no_such_tool"]
    assert [event["activity_id"] for event in unknown] == [0]


def test_the_catalogue_declares_creates_and_deletes_and_reads_follow_the_effect() -> None:
    by_activity: dict[Activity, set[str]] = {}
    for spec in CATALOGUE:
        by_activity.setdefault(spec.api_activity, set()).add(spec.name)
        assert (spec.api_activity is Activity.READ) == (spec.effect is Effect.READ), spec.name
    assert by_activity[Activity.CREATE] == {
        "create_account",
        "create_inquiry",
        "create_inquiry_session",
        "create_list",
        "create_list_item",
        "create_webhook",
        "clone_webhook",
        # tier 2 (issue 19): each makes a new object in Persona
        "create_report",
        "create_case",
        "create_business_verification",
        "create_generic_document",
        "create_government_id_document",
        "create_transaction",
        "trigger_workflow",
        "import_accounts",
        "import_list_items",
        "import_faces",
    }
    assert by_activity[Activity.DELETE] == {
        "redact_account",
        "redact_inquiry",
        "archive_list",
        "archive_list_item",
        "archive_webhook",
        "redact_case",
        "redact_report",
        "redact_transaction",
        "redact_verification",
    }
    assert {"approve_inquiry", "decline_inquiry", "expire_inquiry"} <= by_activity[Activity.UPDATE]


# -- the validator itself can fail --------------------------------------------------------------------------


def _valid_event() -> dict[str, Any]:
    record = AuditEvent(
        kind="call.outcome", call_id="c-1", principal="agent", tool="get_account", outcome="ok"
    )
    fields = record.model_dump() | {
        "seq": 1,
        "timestamp": "2026-05-01T00:00:00.000000Z",
        "instance_id": "test",
        "prev_hash": "0" * 64,
        "hash": "1" * 64,
    }
    return to_ocsf(AuditRecord.model_validate(fields), {"get_account": "read"})


def test_the_validator_accepts_a_valid_event_and_names_each_fault() -> None:
    event = _valid_event()
    assert ocsf_problems(event) == []

    missing_uid = json.loads(json.dumps(event))
    missing_uid["api"]["request"] = {"uid": None}
    assert ocsf_problems(missing_uid) == ["event.api.request.uid: null (leave the attribute out instead)"]
    del missing_uid["api"]["request"]["uid"]
    assert ocsf_problems(missing_uid) == ["event.api.request.uid: required"]

    wrong = json.loads(json.dumps(event)) | {"activity_id": 7, "severity_id": "1", "colour": "blue"}
    wrong["actor"]["user"] = {"type": "Other"}
    assert sorted(ocsf_problems(wrong)) == sorted(
        [
            "event.activity_id: 7 is not one of ['0', '1', '2', '3', '4', '99']",
            "event.severity_id: '1' is not a integer_t",
            "event.colour: not an attribute of event (put it under unmapped)",
            "event.actor.user: needs at least one of ['account', 'name', 'uid']",
            "event.type_uid should be 600307",
        ]
    )


def test_the_vendored_schema_files_are_the_ones_source_md_names() -> None:
    ocsf = Path(__file__).parent / "ocsf"
    rows = re.findall(r"^\| `([^`]+)` \| `([0-9a-f]{40})` \|$", (ocsf / "SOURCE.md").read_text(), re.M)
    vendored = sorted(
        str(p.relative_to(ocsf / "schema")) for p in (ocsf / "schema").rglob("*") if p.is_file()
    )
    assert sorted(name for name, _blob in rows) == vendored
    for name, blob in rows:
        content = (ocsf / "schema" / name).read_bytes()
        assert hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest() == blob, name
