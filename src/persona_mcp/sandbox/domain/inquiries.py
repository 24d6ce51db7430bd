"""Inquiries and their lifecycle (PROTOCOL.md section 14).

created -> pending -> completed | failed | expired; expired -> pending by resume (unless redacted);
decisions approve / decline / mark-for-review. Every transition records Persona's event for it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from persona_mcp.sandbox import validation
from persona_mcp.sandbox.clock import later_iso, now_iso
from persona_mcp.sandbox.domain import accounts, sessions
from persona_mcp.sandbox.errors import ApiError, conflict, invalid_attribute
from persona_mcp.sandbox.fields import custom_fields, entry
from persona_mcp.sandbox.records import Record, ref
from persona_mcp.sandbox.redaction import redact
from persona_mcp.sandbox.store import SandboxState

DEFAULT_EXPIRY_SECONDS = 24 * 3600
DEFAULT_TEMPLATE_VERSION_ID = "itmplv_SandboxTemplateVersion00"
DECIDED = frozenset({"approved", "declined"})
_STANDARD_FIELDS = (
    "name-first",
    "name-middle",
    "name-last",
    "address-street-1",
    "address-street-2",
    "address-city",
    "address-subdivision",
    "address-postal-code",
    "address-country-code",
    "birthdate",
    "email-address",
    "phone-number",
    "identification-number",
)

#: Risk signals shown once the user has been through the flow (Persona's `behaviors` keys).
SAMPLE_BEHAVIORS: dict[str, Any] = {
    "api-version-less-than-minimum-count": 0,
    "autofill-cancels": 0,
    "autofill-starts": 0,
    "behavior-threat-level": "low",
    "bot-score": 1,
    "completion-time": 40.17,
    "devtools-open": False,
    "debugger-attached": False,
    "distraction-events": 0,
    "hesitation-baseline": 29677,
    "hesitation-count": 3,
    "hesitation-percentage": 96.88,
    "hesitation-time": 28752,
    "mobile-sdk-version-less-than-minimum-count": 0,
    "request-spoof-attempts": 0,
    "shortcut-copies": 0,
    "shortcut-pastes": 0,
    "user-agent-spoof-attempts": 0,
}


def _fields(raw: Any) -> dict[str, Any]:
    if raw is not None and not isinstance(raw, dict):
        raise invalid_attribute("fields", "data.attributes.fields must be an object")
    given = custom_fields(raw)
    for key, check in (
        ("email-address", validation.check_email),
        ("address-country-code", validation.check_country),
    ):
        if key in given:
            check(f"fields/{key}", given[key].get("value"))
    if "birthdate" in given:
        validation.check_date("fields/birthdate", given["birthdate"].get("value"))
        given["birthdate"]["type"] = "date"
    return given


def _template_ids(attributes: dict[str, Any]) -> tuple[str, str]:
    template = attributes.get("inquiry-template-id") or attributes.get("template-id")
    version = attributes.get("inquiry-template-version-id")
    if not template and not version:
        raise invalid_attribute(
            "inquiry-template-id",
            "One of inquiry-template-id, template-id or inquiry-template-version-id is required",
        )
    for name, value in (("inquiry-template-id", template), ("inquiry-template-version-id", version)):
        validation.check_string(name, value)
    return str(template or "itmpl_SandboxDefaultTemplate00"), str(version or DEFAULT_TEMPLATE_VERSION_ID)


def _account_for(state: SandboxState, attributes: dict[str, Any], meta: dict[str, Any]) -> Record | None:
    account_id = attributes.get("account-id")
    if account_id:
        account = state.get(str(account_id), "account")
        if account.internal["consolidated_into"] is not None:
            raise invalid_attribute(
                "account-id", f"Account {account.id} was consolidated and takes no new inquiries"
            )
        return account
    if meta.get("auto-create-account") is False:
        return None
    reference_id = meta.get("auto-create-account-reference-id") or attributes.get("reference-id")
    if reference_id:
        existing = accounts.find_by_reference(state, str(reference_id))
        if existing is not None:
            return existing
    return accounts.create_account(state, {"reference-id": reference_id} if reference_id else {})


def create_inquiry(
    state: SandboxState, attributes: dict[str, Any], meta: dict[str, Any]
) -> tuple[Record, dict[str, Any]]:
    """A new inquiry in status `created`, plus the `meta` the auto-create-* flags ask for."""
    template_id, version_id = _template_ids(attributes)
    for name in ("reference-id", "note", "redirect-uri"):
        validation.check_string(name, attributes.get(name))
    validation.check_tags("tags", attributes.get("tags"))
    fields = {key: entry(None, "date" if key == "birthdate" else "string") for key in _STANDARD_FIELDS}
    fields.update(_fields(attributes.get("fields")))
    expiry = meta.get("expiration-after-create-interval-seconds") or DEFAULT_EXPIRY_SECONDS
    if not isinstance(expiry, int) or expiry <= 0:
        raise ApiError(
            422,
            "Invalid attribute",
            "must be a positive integer",
            pointer="/meta/expiration-after-create-interval-seconds",
        )
    account = _account_for(state, attributes, meta)
    stamp = now_iso()
    inquiry = state.add(
        "inq",
        "inquiry",
        {
            "status": "created",
            "reference-id": attributes.get("reference-id"),
            "note": attributes.get("note"),
            "behaviors": None,
            "tags": list(dict.fromkeys(attributes.get("tags") or [])),
            "creator": "API",
            "reviewer-comment": None,
            "created-at": stamp,
            "updated-at": stamp,
            "started-at": None,
            "expires-at": later_iso(expiry),
            "completed-at": None,
            "failed-at": None,
            "marked-for-review-at": None,
            "decisioned-at": None,
            "expired-at": None,
            "redacted-at": None,
            "previous-step-name": None,
            "next-step-name": "start",
            "fields": fields,
        },
        {
            "account": ref("account", account.id) if account else {"data": None},
            "documents": {"data": []},
            "template": {"data": None},
            "inquiry-template": ref("inquiry-template", template_id),
            "inquiry-template-version": ref("inquiry-template-version", version_id),
            "reports": {"data": []},
            "reviewer": {"data": None},
            "selfies": {"data": []},
            "sessions": {"data": []},
            "verifications": {"data": []},
            "transaction": {"data": None},
        },
        **{"account-id": account.id if account else None, "stubs": {}},
    )
    state.emit("inquiry.created", inquiry)
    response_meta: dict[str, Any] = {}
    if meta.get("auto-create-inquiry-session"):
        session = sessions.create_session(state, inquiry)
        response_meta["session-token"] = sessions.session_token(state, session)
    if meta.get("auto-create-one-time-link"):
        response_meta.update(sessions.one_time_link(state))
    return inquiry, response_meta


def update_inquiry(state: SandboxState, inquiry: Record, attributes: dict[str, Any]) -> Record:
    """Edit note, fields and tags (Persona fires no event for this, so neither does the sandbox)."""
    validation.check_string("note", attributes.get("note"))
    validation.check_tags("tags", attributes.get("tags"))
    if "note" in attributes:
        inquiry.attributes["note"] = attributes["note"]
    if attributes.get("tags") is not None:
        inquiry.attributes["tags"] = list(dict.fromkeys(attributes["tags"]))
    inquiry.attributes["fields"].update(_fields(attributes.get("fields")))
    inquiry.attributes["updated-at"] = now_iso()
    return inquiry


def _transition(
    state: SandboxState, inquiry: Record, status: str, stamp_name: str | None, event: str
) -> Record:
    stamp = now_iso()
    inquiry.attributes["status"] = status
    inquiry.attributes["updated-at"] = stamp
    if stamp_name:
        inquiry.attributes[stamp_name] = stamp
    state.emit(event, inquiry)
    return inquiry


def _refuse(inquiry: Record, action: str) -> ApiError:
    return conflict(f"Cannot {action} an inquiry with status {inquiry.attributes['status']}")


def start(state: SandboxState, inquiry: Record) -> Record:
    if inquiry.attributes["status"] != "created":
        raise _refuse(inquiry, "start")
    inquiry.attributes.update(
        {
            "behaviors": dict(SAMPLE_BEHAVIORS),
            "previous-step-name": "start",
            "next-step-name": "verification_government_id",
        }
    )
    return _transition(state, inquiry, "pending", "started-at", "inquiry.started")


def complete(state: SandboxState, inquiry: Record) -> Record:
    if inquiry.attributes["status"] == "created":
        start(state, inquiry)
    if inquiry.attributes["status"] != "pending":
        raise _refuse(inquiry, "complete")
    inquiry.attributes["fields"].update(inquiry.internal["stubs"])
    inquiry.attributes.update(
        {"previous-step-name": "verification_government_id", "next-step-name": "success"}
    )
    return _transition(state, inquiry, "completed", "completed-at", "inquiry.completed")


def fail(state: SandboxState, inquiry: Record) -> Record:
    if inquiry.attributes["status"] == "created":
        start(state, inquiry)
    if inquiry.attributes["status"] != "pending":
        raise _refuse(inquiry, "fail")
    inquiry.attributes.update({"previous-step-name": "verification_government_id", "next-step-name": "fail"})
    return _transition(state, inquiry, "failed", "failed-at", "inquiry.failed")


def expire(state: SandboxState, inquiry: Record) -> Record:
    """created/pending -> expired; the inquiry's sessions expire with it."""
    if inquiry.attributes["status"] not in ("created", "pending"):
        raise _refuse(inquiry, "expire")
    _transition(state, inquiry, "expired", "expired-at", "inquiry.expired")
    sessions.expire_open_sessions(state, inquiry.id)
    return inquiry


def resume(state: SandboxState, inquiry: Record) -> tuple[Record, dict[str, Any]]:
    """pending or expired -> pending, with a new session token; refused once redacted."""
    if inquiry.internal.get("redacted"):
        raise conflict(f"Inquiry {inquiry.id} has been redacted and cannot be resumed")
    status = inquiry.attributes["status"]
    if status not in ("pending", "expired"):
        raise _refuse(inquiry, "resume")
    inquiry.attributes["expires-at"] = later_iso(DEFAULT_EXPIRY_SECONDS)
    if status == "expired":
        inquiry.attributes["expired-at"] = None
        _transition(state, inquiry, "pending", None, "inquiry.started")
    session = sessions.create_session(state, inquiry)
    return inquiry, {"session-token": sessions.session_token(state, session)}


def decide(state: SandboxState, inquiry: Record, decision: str, comment: Any) -> Record:
    """approve / decline: refused once a decision was made."""
    if inquiry.attributes["status"] in DECIDED:
        raise _refuse(inquiry, decision)
    if comment is not None:
        validation.check_string("comment", comment)
        inquiry.attributes["reviewer-comment"] = comment
    status, event = (
        ("approved", "inquiry.approved") if decision == "approve" else ("declined", "inquiry.declined")
    )
    return _transition(state, inquiry, status, "decisioned-at", event)


def mark_for_review(state: SandboxState, inquiry: Record) -> Record:
    status = inquiry.attributes["status"]
    if status in DECIDED:
        raise _refuse(inquiry, "mark for review")
    if status == "needs_review":
        return inquiry
    return _transition(state, inquiry, "needs_review", "marked-for-review-at", "inquiry.marked-for-review")


def redact_inquiry(state: SandboxState, inquiry: Record) -> Record:
    if not inquiry.internal.get("redacted"):
        redact(inquiry)
        inquiry.attributes["note"] = None
        state.emit("inquiry.redacted", inquiry)
    return inquiry


def one_time_link(state: SandboxState, inquiry: Record) -> dict[str, str]:
    """Links are for inquiries a user can still work on (created or pending), not for expired ones."""
    if inquiry.internal.get("redacted") or inquiry.attributes["status"] not in ("created", "pending"):
        raise _refuse(inquiry, "generate a one-time link for")
    sessions.create_session(state, inquiry)
    return sessions.one_time_link(state)


def signed_file_url(name: str, salt: str) -> str:
    """A link in the shape of Persona's signed file URLs (no API key needed to open it, while it lasts)."""
    token = hashlib.sha256(f"sandbox-file-token:{salt}".encode()).hexdigest()[:32]
    return f"https://files.withpersona.com/{name}?access_token={token}"


def add_verification(state: SandboxState, inquiry: Record, passed: bool, template_id: str) -> Record:
    """A fabricated government-id verification (sandbox simulate action), with its event."""
    stamp = now_iso()
    verification = state.add(
        "ver",
        "verification/government-id",
        {"status": "passed" if passed else "failed", "created-at": stamp, "completed-at": stamp},
        {
            "inquiry": ref("inquiry", inquiry.id),
            "verification-template": ref("verification-template", template_id),
        },
    )
    # Persona's government-id verifications carry signed links to the captured images (PROTOCOL.md 10).
    front = signed_file_url(f"{verification.id}-front.jpg", verification.id)
    verification.attributes.update(
        {
            "front-photo-url": front,
            "back-photo-url": None,
            "photo-urls": [{"page": "front", "url": front, "normalized-url": front, "byte-size": 201105}],
        }
    )
    assert inquiry.relationships is not None
    inquiry.relationships["verifications"]["data"].append({"type": verification.type, "id": verification.id})
    state.emit("verification.passed" if passed else "verification.failed", verification)
    return verification
