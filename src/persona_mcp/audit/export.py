"""Exports for SIEMs and spreadsheets: JSON lines, CSV, and OCSF API Activity (class 6003).

OCSF mapping (documented in docs/audit.md):

* `class_uid` 6003 API Activity, `category_uid` 6 Application Activity, `type_uid` = 600300 + activity_id;
* `activity_id` the tool's declared activity, one per tool (`ToolSpec.api_activity`, passed in by the
  caller: 1 Create, 2 Read, 3 Update, 4 Delete), else an admin action's suffix (created, updated,
  revoked/deleted; 99 Other for the rest), else 0 Unknown;
* `status_id` 1 Success (outcome ok), 2 Failure (error or denied), 0 Unknown (intent, outcome_unknown);
* `actor.user.uid` the principal, `actor.session.uid` the MCP session, `actor.app_name` the MCP client;
* `api.operation` the tool (or `admin.<action>`), `api.request.uid` the Persona request id (the call id
  when Persona was not reached, the record hash for admin records), `api.response.code` the upstream status;
* `time` milliseconds since the epoch; `metadata.product` persona-mcp; `metadata.uid` the record hash;
  `metadata.sequence` the seq; `metadata.correlation_uid` the call id;
* everything else under `unmapped` (arguments stay digested).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterable, Mapping
from enum import StrEnum
from typing import Any

from persona_mcp import __version__
from persona_mcp.audit.record import AuditRecord, parse_timestamp

OCSF_VERSION = "1.3.0"

CSV_COLUMNS = (
    "seq",
    "timestamp",
    "instance_id",
    "kind",
    "call_id",
    "principal",
    "client_id",
    "grant_id",
    "subject",
    "actor",
    "session_id",
    "client_name",
    "client_version",
    "tool",
    "scope",
    "decision",
    "reason",
    "arguments",
    "upstream_method",
    "upstream_path",
    "upstream_status",
    "persona_request_id",
    "object_ids",
    "idempotency_key",
    "attempts",
    "latency_ms",
    "outcome",
    "error_type",
    "error_kind",
    "target",
    "details",
    "prev_hash",
    "hash",
)


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
    OCSF = "ocsf"


#: OCSF API Activity `activity_id` of each tool activity (`persona_mcp.tools.spec.Activity` values).
ACTIVITY_IDS = {"create": 1, "read": 2, "update": 3, "delete": 4}
_ADMIN_ACTIVITY = {"created": 1, "issued": 1, "updated": 3, "rotated": 3, "revoked": 4, "deleted": 4}
_ACTIVITY_NAMES = {0: "Unknown", 1: "Create", 2: "Read", 3: "Update", 4: "Delete", 99: "Other"}
UNKNOWN_ACTIVITY = 0
OTHER_ACTIVITY = 99


def activity_id(record: AuditRecord, activities: Mapping[str, str]) -> int:
    """OCSF API Activity `activity_id` for a record: the declared activity of its tool (`activities`,
    tool name -> activity, from the catalogue), the suffix of an admin action, else 0 Unknown.

    Never the HTTP method: a decision such as approve_inquiry is a POST and creates nothing, and a call's
    intent (sent before any request) must say what its outcome says.
    """
    if record.kind.startswith("approval."):
        # Requesting, deciding or using an approval changes nothing in Persona by itself.
        return OTHER_ACTIVITY
    if record.tool is not None:
        return ACTIVITY_IDS.get(activities.get(record.tool, ""), UNKNOWN_ACTIVITY)
    if record.kind.startswith("admin."):
        return _ADMIN_ACTIVITY.get(record.kind.rsplit(".", 1)[-1], OTHER_ACTIVITY)
    return UNKNOWN_ACTIVITY


def _status(record: AuditRecord) -> tuple[int, str]:
    if record.decision == "denied" or record.outcome == "error":
        return 2, "Failure"
    if record.outcome == "ok" or record.kind.startswith(("admin.", "approval.")):
        return 1, "Success"
    return 0, "Unknown"


def to_ocsf(record: AuditRecord, activities: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One OCSF 1.3.0 API Activity event for one record.

    `activities` maps tool names to their declared activity (`{spec.name: spec.api_activity}` over the
    catalogue, which this package cannot import); a tool it does not name is exported as 0 Unknown.
    Attributes without a value are left out rather than sent as null, which OCSF does not allow; the
    record's other fields go under `unmapped` exactly as recorded.
    """
    activity = activity_id(record, activities or {})
    status_id, status = _status(record)
    mapped: dict[str, Any] = {
        "class_uid": 6003,
        "class_name": "API Activity",
        "category_uid": 6,
        "category_name": "Application Activity",
        "activity_id": activity,
        "activity_name": _ACTIVITY_NAMES[activity],
        "type_uid": 600300 + activity,
        "type_name": f"API Activity: {_ACTIVITY_NAMES[activity]}",
        "severity_id": 1,
        "severity": "Informational",
        "time": int(parse_timestamp(record.timestamp).timestamp() * 1000),
        "status_id": status_id,
        "status": status,
        "status_detail": record.reason,
        "actor": {
            "user": _user(record),
            "session": {"uid": record.session_id},
            "app_name": " ".join(p for p in (record.client_name, record.client_version) if p) or None,
        },
        "api": {
            "operation": record.tool or record.kind,
            "service": {"name": "Persona API" if record.upstream_path else "persona-mcp"},
            # Required by OCSF: an admin record belongs to no call, so its own hash identifies it.
            "request": {"uid": record.persona_request_id or record.call_id or record.hash},
            "response": {"code": record.upstream_status},
        },
        "src_endpoint": {"name": record.instance_id},
        "resources": [{"uid": uid, "type": uid.split("_", 1)[0]} for uid in record.object_ids],
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": "persona-mcp", "vendor_name": "persona-mcp", "version": __version__},
            "uid": record.hash,
            "sequence": record.seq,
            "correlation_uid": record.call_id,
            "log_name": "audit",
        },
    }
    event: dict[str, Any] = _present(mapped)
    event["unmapped"] = {
        "kind": record.kind,
        "grant_id": record.grant_id,
        "client_id": record.client_id,
        "subject": record.subject,
        "actor": record.actor,
        "scope": record.scope,
        "decision": record.decision,
        "reason": record.reason,
        "arguments": record.arguments,
        "upstream_method": record.upstream_method,
        "upstream_path": record.upstream_path,
        "idempotency_key": record.idempotency_key,
        "attempts": record.attempts,
        "latency_ms": record.latency_ms,
        "outcome": record.outcome,
        "error_type": record.error_type,
        "error_kind": record.error_kind,
        "target": record.target,
        "details": record.details,
        "prev_hash": record.prev_hash,
    }
    return event


_DECISIONS = ("approval.approved", "approval.rejected")
#: OCSF `user.type_id`: the operator of an admin action is an Admin; a grant's principal, Other.
_ADMIN_USER, _OTHER_USER, _UNKNOWN_USER = (2, "Admin"), (99, "Other"), (0, "Unknown")


def _user(record: AuditRecord) -> dict[str, Any]:
    """Who acted. A call refused before its caller was known has nobody to name: say so, not null."""
    if record.kind.startswith("admin.") and record.actor:
        type_id, type_name = _ADMIN_USER
        return {"uid": record.actor, "type_id": type_id, "type": type_name}
    if record.kind in _DECISIONS and record.actor:
        # The approver acted, not the principal whose call it was.
        type_id, type_name = _ADMIN_USER if record.actor.startswith("admin:") else _OTHER_USER
        return {"uid": record.actor, "type_id": type_id, "type": type_name}
    uid = record.principal or record.actor
    if uid:
        type_id, type_name = _OTHER_USER
        return {"uid": uid, "type_id": type_id, "type": type_name}
    type_id, type_name = _UNKNOWN_USER
    return {"name": "unauthenticated", "type_id": type_id, "type": type_name}


def _present(value: Any) -> Any:
    """`value` without null attributes, and without objects left empty by dropping them."""
    if isinstance(value, dict):
        kept = {key: _present(item) for key, item in value.items() if item is not None}
        return {key: item for key, item in kept.items() if item != {}}
    if isinstance(value, list):
        return [_present(item) for item in value]
    return value


#: A spreadsheet reads a cell starting with one of these as a formula (OWASP, "CSV Injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(cell: str) -> str:
    """The cell as a spreadsheet shows it as text: a leading formula trigger gets a `'` before it.

    Caller-chosen text (a tool name, a principal, an error reason) reaches these cells, and a cell such as
    `=HYPERLINK(...)` would otherwise run when a reviewer opens the export.
    """
    return f"'{cell}" if cell.startswith(FORMULA_TRIGGERS) else cell


def csv_row(record: AuditRecord) -> list[str]:
    data = record.model_dump(mode="json")
    cells: list[str] = []
    for column in CSV_COLUMNS:
        value = data.get(column)
        if column == "object_ids":
            cell = " ".join(value or [])
        elif isinstance(value, dict | list):
            cell = json.dumps(value, sort_keys=True, separators=(",", ":"))
        else:
            cell = "" if value is None else str(value)
        cells.append(neutralised(cell))
    return cells


def render_lines(
    records: Iterable[AuditRecord], fmt: ExportFormat, *, activities: Mapping[str, str] | None = None
) -> Iterable[str]:
    """Export lines (each ending in a newline), the CSV header first. `activities` as for `to_ocsf`."""
    if fmt is ExportFormat.CSV:
        yield _csv_line(list(CSV_COLUMNS))
    for record in records:
        yield _line(record, fmt, activities)


async def render_lines_async(
    records: AsyncIterator[AuditRecord], fmt: ExportFormat, *, activities: Mapping[str, str] | None = None
) -> AsyncIterator[str]:
    if fmt is ExportFormat.CSV:
        yield _csv_line(list(CSV_COLUMNS))
    async for record in records:
        yield _line(record, fmt, activities)


def _line(record: AuditRecord, fmt: ExportFormat, activities: Mapping[str, str] | None) -> str:
    if fmt is ExportFormat.JSONL:
        return record.model_dump_json() + "\n"
    if fmt is ExportFormat.OCSF:
        return json.dumps(to_ocsf(record, activities), separators=(",", ":"), ensure_ascii=False) + "\n"
    return _csv_line(csv_row(record))


def _csv_line(cells: list[str]) -> str:
    # Every cell quoted (as OWASP also advises): with minimal quoting a bare carriage return in a
    # caller-chosen value would end the row early for any reader.
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL).writerow(cells)
    return buffer.getvalue()


__all__ = [
    "ACTIVITY_IDS",
    "CSV_COLUMNS",
    "FORMULA_TRIGGERS",
    "OCSF_VERSION",
    "ExportFormat",
    "activity_id",
    "csv_row",
    "neutralised",
    "render_lines",
    "render_lines_async",
    "to_ocsf",
]
