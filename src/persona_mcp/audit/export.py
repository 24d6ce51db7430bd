"""Exports for SIEMs and spreadsheets: JSON lines, CSV, and OCSF API Activity (class 6003).

OCSF mapping (documented in docs/audit.md):

* `class_uid` 6003 API Activity, `category_uid` 6 Application Activity, `type_uid` = 600300 + activity_id;
* `activity_id` from the upstream method (POST 1 Create, GET 2 Read, PATCH/PUT 3 Update, DELETE 4 Delete),
  else from the tool's verb, else from an admin action's suffix (created, updated, revoked/deleted), else
  99 Other;
* `status_id` 1 Success (outcome ok), 2 Failure (error or denied), 0 Unknown (intent, outcome_unknown);
* `actor.user.uid` the principal, `actor.session.uid` the MCP session, `actor.app_name` the MCP client;
* `api.operation` the tool (or `admin.<action>`), `api.request.uid` the Persona request id (the call id
  when Persona was not reached), `api.response.code` the upstream HTTP status;
* `time` milliseconds since the epoch; `metadata.product` persona-mcp; `metadata.uid` the record hash;
  `metadata.sequence` the seq; `metadata.correlation_uid` the call id;
* everything else under `unmapped` (arguments stay digested).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterable
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


_METHOD_ACTIVITY = {"POST": 1, "GET": 2, "PATCH": 3, "PUT": 3, "DELETE": 4}
_VERB_ACTIVITY = {
    "create": 1,
    "clone": 1,
    "generate": 1,
    "get": 2,
    "list": 2,
    "search": 2,
    "print": 2,
    "query": 2,
    "verify": 2,
    "update": 3,
    "set": 3,
    "add": 3,
    "remove": 3,
    "approve": 3,
    "decline": 3,
    "mark": 3,
    "resume": 3,
    "enable": 3,
    "disable": 3,
    "rotate": 3,
    "run": 3,
    "perform": 3,
    "redact": 4,
    "archive": 4,
    "expire": 4,
    "consolidate": 4,
    "delete": 4,
}
_ADMIN_ACTIVITY = {"created": 1, "issued": 1, "updated": 3, "rotated": 3, "revoked": 4, "deleted": 4}
_ACTIVITY_NAMES = {0: "Unknown", 1: "Create", 2: "Read", 3: "Update", 4: "Delete", 99: "Other"}


def activity_id(record: AuditRecord) -> int:
    """OCSF API Activity `activity_id` for a record (see the module docstring)."""
    if record.upstream_method and record.upstream_method.upper() in _METHOD_ACTIVITY:
        return _METHOD_ACTIVITY[record.upstream_method.upper()]
    if record.tool:
        verb = record.tool.split("_", 1)[0]
        if verb in _VERB_ACTIVITY:
            return _VERB_ACTIVITY[verb]
    if record.kind.startswith("admin."):
        return _ADMIN_ACTIVITY.get(record.kind.rsplit(".", 1)[-1], 99)
    return 99


def _status(record: AuditRecord) -> tuple[int, str]:
    if record.decision == "denied" or record.outcome == "error":
        return 2, "Failure"
    if record.outcome == "ok" or record.kind.startswith("admin."):
        return 1, "Success"
    return 0, "Unknown"


def to_ocsf(record: AuditRecord) -> dict[str, Any]:
    """One OCSF 1.3 API Activity event for one record."""
    activity = activity_id(record)
    status_id, status = _status(record)
    operation = record.tool or record.kind
    event: dict[str, Any] = {
        "class_uid": 6003,
        "class_name": "API Activity",
        "category_uid": 6,
        "category_name": "Application Activity",
        "activity_id": activity,
        "activity_name": _ACTIVITY_NAMES[activity],
        "type_uid": 600300 + activity,
        "severity_id": 1,
        "time": int(parse_timestamp(record.timestamp).timestamp() * 1000),
        "status_id": status_id,
        "status": status,
        "actor": {
            "user": {"uid": record.principal or record.actor, "type": "Other"},
            "session": {"uid": record.session_id},
            "app_name": " ".join(p for p in (record.client_name, record.client_version) if p) or None,
        },
        "api": {
            "operation": operation,
            "service": {"name": "Persona API" if record.upstream_path else "persona-mcp"},
            "request": {"uid": record.persona_request_id or record.call_id},
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
        "unmapped": {
            "kind": record.kind,
            "grant_id": record.grant_id,
            "client_id": record.client_id,
            "subject": record.subject,
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
        },
    }
    if record.reason:
        event["status_detail"] = record.reason
    return event


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


def render_lines(records: Iterable[AuditRecord], fmt: ExportFormat) -> Iterable[str]:
    """Export lines (each ending in a newline), the CSV header first."""
    if fmt is ExportFormat.CSV:
        yield _csv_line(list(CSV_COLUMNS))
    for record in records:
        yield _line(record, fmt)


async def render_lines_async(records: AsyncIterator[AuditRecord], fmt: ExportFormat) -> AsyncIterator[str]:
    if fmt is ExportFormat.CSV:
        yield _csv_line(list(CSV_COLUMNS))
    async for record in records:
        yield _line(record, fmt)


def _line(record: AuditRecord, fmt: ExportFormat) -> str:
    if fmt is ExportFormat.JSONL:
        return record.model_dump_json() + "\n"
    if fmt is ExportFormat.OCSF:
        return json.dumps(to_ocsf(record), separators=(",", ":"), ensure_ascii=False) + "\n"
    return _csv_line(csv_row(record))


def _csv_line(cells: list[str]) -> str:
    # Every cell quoted (as OWASP also advises): with minimal quoting a bare carriage return in a
    # caller-chosen value would end the row early for any reader.
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL).writerow(cells)
    return buffer.getvalue()


__all__ = [
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
