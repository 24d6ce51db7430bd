"""Cases: the manual-review queue. A case holds Persona objects for a reviewer and carries a status.

Statuses are the case template's own words (Persona's examples show `open`, `Approved`, ...); the sandbox
accepts any non-empty status, stamps `resolved-at` when it leaves `open`/`pending`, and fires Persona's
case events. Attached objects must exist and be of a kind a case can hold.
"""

from __future__ import annotations

from typing import Any

from persona_mcp.sandbox import validation
from persona_mcp.sandbox.clock import later_iso, now_iso
from persona_mcp.sandbox.errors import ApiError, invalid_attribute, not_found
from persona_mcp.sandbox.fields import custom_fields
from persona_mcp.sandbox.records import Record, ref
from persona_mcp.sandbox.redaction import redact as redact_fields
from persona_mcp.sandbox.store import SandboxState

DEFAULT_QUEUE_ID = "cqueue_SandboxReviewQueue000"
OPEN_STATUSES = frozenset({"open", "pending"})
MAX_SLA_SECONDS = 90 * 24 * 3600

#: Which case relationship holds an object, by the object's id prefix.
_RELATIONSHIP_OF_PREFIX = {
    "act": "accounts",
    "inq": "inquiries",
    "rep": "reports",
    "ver": "verifications",
    "txn": "txns",
}


def _meta_error(name: str, details: str) -> ApiError:
    return ApiError(422, "Invalid attribute", details, pointer=f"/meta/{name}")


def _sla(meta: dict[str, Any]) -> str | None:
    seconds = meta.get("sla-expires-in-seconds")
    if seconds is None:
        return None
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not 0 < seconds <= MAX_SLA_SECONDS
    ):
        raise _meta_error("sla-expires-in-seconds", "must be a number of seconds up to 90 days")
    return later_iso(float(seconds))


def _linkage(state: SandboxState, object_ids: Any) -> list[Record]:
    if object_ids is None:
        return []
    if not isinstance(object_ids, list) or not all(isinstance(i, str) for i in object_ids):
        raise _meta_error("object-ids", "meta.object-ids must be an array of object ids")
    records = []
    for object_id in object_ids:
        prefix = object_id.split("_", 1)[0]
        record = state.records.get(object_id)
        if prefix not in _RELATIONSHIP_OF_PREFIX:
            raise _meta_error("object-ids", f"{object_id} is not an object a case can hold")
        if record is None:
            raise not_found("object", object_id)
        records.append(record)
    return records


def _attach(case: Record, records: list[Record]) -> None:
    assert case.relationships is not None
    for record in records:
        linkage = case.relationships[_RELATIONSHIP_OF_PREFIX[record.id.split("_", 1)[0]]]["data"]
        if all(item["id"] != record.id for item in linkage):
            linkage.append({"type": record.type, "id": record.id})


def _touch(case: Record) -> None:
    case.attributes["updated-at"] = now_iso()
    case.attributes["updater-id"] = "api"
    case.attributes["updater-type"] = "user"


def create_case(state: SandboxState, attributes: dict[str, Any], meta: dict[str, Any]) -> Record:
    template_id = attributes.get("case-template-id")
    if not isinstance(template_id, str) or not template_id.strip():
        raise invalid_attribute("case-template-id", "data.attributes.case-template-id is missing")
    for name in ("creator-email-address", "case-queue-id"):
        validation.check_string(name, attributes.get(name))
    creator = attributes.get("creator-email-address")
    if creator is not None:
        validation.check_email("creator-email-address", creator)
    objects = _linkage(state, meta.get("object-ids"))
    sla = _sla(meta)
    stamp = now_iso()
    number = state.created_count("case") + 1
    case = state.add(
        "case",
        "case",
        {
            "status": "open",
            "name": f"CASE-{number}",
            "resolution": None,
            "created-at": stamp,
            "updated-at": stamp,
            "assigned-at": None,
            "resolved-at": None,
            "redacted-at": None,
            "sla-expires-at": sla,
            "creator-id": creator or "api",
            "creator-type": "user",
            "assignee-id": None,
            "assigner-id": None,
            "assigner-type": None,
            "resolver-id": None,
            "resolver-type": None,
            "updater-id": None,
            "updater-type": None,
            "tags": [],
            "fields": custom_fields(attributes.get("fields")),
            "attachments": [],
        },
        {
            "case-template": ref("case-template", template_id),
            "case-queue": ref("case-queue", str(attributes.get("case-queue-id") or DEFAULT_QUEUE_ID)),
            "case-comments": {"data": []},
            "accounts": {"data": []},
            "inquiries": {"data": []},
            "reports": {"data": []},
            "verifications": {"data": []},
            "txns": {"data": []},
        },
    )
    _attach(case, objects)
    state.emit("case.created", case)
    return case


def update_case(
    state: SandboxState, case: Record, attributes: dict[str, Any], meta: dict[str, Any]
) -> Record:
    """Fields, queue, SLA and attachments; every other attribute changes only through its action."""
    assert case.relationships is not None
    if "fields" in attributes:
        if not isinstance(attributes["fields"], dict):
            raise invalid_attribute("fields", "data.attributes.fields must be an object")
        case.attributes["fields"].update(custom_fields(attributes["fields"]))
    if "case-queue-id" in attributes:
        queue = attributes["case-queue-id"]
        validation.check_string("case-queue-id", queue)
        case.relationships["case-queue"] = ref("case-queue", queue) if queue else {"data": None}
    if "attachments" in attributes:
        attachments = attributes["attachments"]
        if not isinstance(attachments, list) or not all(
            isinstance(a, dict) and isinstance(a.get("filename"), str) for a in attachments
        ):
            raise invalid_attribute("attachments", "attachments must be an array of {filename, data}")
        case.attributes["attachments"] += [{"filename": a["filename"]} for a in attachments]
    if "sla-expires-in-seconds" in meta:
        case.attributes["sla-expires-at"] = _sla(meta)
    _touch(case)
    state.emit("case.updated", case)
    return case


def add_objects(state: SandboxState, case: Record, meta: dict[str, Any]) -> Record:
    _attach(case, _linkage(state, meta.get("object-ids")))
    _touch(case)
    state.emit("case.updated", case)
    return case


def remove_objects(state: SandboxState, case: Record, meta: dict[str, Any]) -> Record:
    """Detach; an object that is not attached is a no-op (as the spec says)."""
    assert case.relationships is not None
    object_ids = meta.get("object-ids")
    if object_ids is not None and (
        not isinstance(object_ids, list) or not all(isinstance(i, str) for i in object_ids)
    ):
        raise _meta_error("object-ids", "meta.object-ids must be an array of object ids")
    gone = set(object_ids or [])
    for name in _RELATIONSHIP_OF_PREFIX.values():
        linkage = case.relationships[name]["data"]
        case.relationships[name]["data"] = [item for item in linkage if item["id"] not in gone]
    _touch(case)
    state.emit("case.updated", case)
    return case


def assign(state: SandboxState, case: Record, meta: dict[str, Any]) -> Record:
    email = meta.get("user-email-address")
    if not isinstance(email, str) or not email.strip():
        raise _meta_error("user-email-address", "meta.user-email-address is missing")
    validation.check_email("user-email-address", email)
    stamp = now_iso()
    case.attributes.update(
        {"assignee-id": email, "assigner-id": "api", "assigner-type": "user", "assigned-at": stamp}
    )
    _touch(case)
    state.emit("case.assigned", case)
    return case


def set_status(state: SandboxState, case: Record, meta: dict[str, Any]) -> Record:
    status = meta.get("status")
    if not isinstance(status, str) or not status.strip():
        raise _meta_error("status", "meta.status is missing")
    if case.internal.get("redacted"):
        raise ApiError(409, "Conflict", f"Case {case.id} has been redacted")
    was_open = case.attributes["status"].lower() in OPEN_STATUSES
    case.attributes["status"] = status
    resolved = status.lower() not in OPEN_STATUSES
    if resolved:
        case.attributes.update(
            {"resolved-at": now_iso(), "resolver-id": "api", "resolver-type": "user", "resolution": status}
        )
    else:
        case.attributes.update({"resolved-at": None, "resolver-id": None, "resolver-type": None})
    _touch(case)
    state.emit("case.status-updated", case)
    if resolved and was_open:
        state.emit("case.resolved", case)
    elif not resolved and not was_open:
        state.emit("case.reopened", case)
    return case


def redact_case(state: SandboxState, case: Record) -> Record:
    if not case.internal.get("redacted"):
        redact_fields(case)
        case.attributes["attachments"] = []
        state.emit("case.redacted", case)
    return case


def status_of(case: Record) -> str:
    status: str = case.attributes["status"]
    return status
