"""Verifications: one check of an inquiry (government id, selfie, database, ...), plus the hidden
database-business verification an API client runs itself (create, update while initiated, submit).

Each type renders the attribute set of its documented example; signed file links are minted per
verification. An investigation lock refuses redaction until it is unlocked (409).
"""

from __future__ import annotations

import copy
from typing import Any

from persona_mcp.sandbox import validation
from persona_mcp.sandbox.clock import now_iso
from persona_mcp.sandbox.domain.inquiries import signed_file_url
from persona_mcp.sandbox.domain.verification_samples import SAMPLES
from persona_mcp.sandbox.errors import conflict, invalid_attribute
from persona_mcp.sandbox.records import Record, ref
from persona_mcp.sandbox.store import SandboxState

_FILES = "https://files.withpersona.com/"
DATABASE_BUSINESS = "verification/database-business"
#: Path segment of each typed retrieve endpoint (`/verification/<segment>/{id}`) -> type.
TYPE_OF_SEGMENT = {segment: type_ for type_, (segment, _rels, _attrs) in SAMPLES.items()} | {
    "database-businesses": DATABASE_BUSINESS
}
_BUSINESS_FIELDS = (
    "business-name",
    "registration-number",
    "address-street-1",
    "address-street-2",
    "address-city",
    "address-subdivision",
    "address-postal-code",
    "address-country-code",
)
_KEPT = frozenset(
    {"status", "created-at", "created-at-ts", "submitted-at", "submitted-at-ts", "completed-at"}
)


def _signed(node: Any, verification_id: str) -> Any:
    """Documented `files.withpersona.com` links, re-signed for this verification."""
    if isinstance(node, str) and node.startswith(_FILES):
        name = node.removeprefix(_FILES).split("?", 1)[0]
        return signed_file_url(f"{verification_id}-{name}", verification_id)
    if isinstance(node, dict):
        return {key: _signed(value, verification_id) for key, value in node.items()}
    if isinstance(node, list):
        return [_signed(value, verification_id) for value in node]
    return node


def _relationships(
    type_: str, names: tuple[str, ...], inquiry: Record | None, template_id: str
) -> dict[str, Any]:
    kind = type_.split("/", 1)[1]
    linkage: dict[str, Any] = {
        "inquiry": ref("inquiry", inquiry.id) if inquiry else {"data": None},
        "template": {"data": None},
        "transaction": {"data": None},
        "inquiry-template": {"data": None},
        "inquiry-template-version": {"data": None},
        "verification-template": ref(f"verification-template/{kind}", template_id),
        "verification-template-version": ref(
            f"verification-template-version/{kind}", template_id.replace("vtmpl_", "vtmplv_", 1)
        ),
        "document": {"data": None},
        "selfie": {"data": None},
    }
    if inquiry is not None and inquiry.relationships is not None:
        linkage["inquiry-template"] = inquiry.relationships["inquiry-template"]
        linkage["inquiry-template-version"] = inquiry.relationships["inquiry-template-version"]
    return {name: copy.deepcopy(linkage[name]) for name in names}


def create_sample(state: SandboxState, type_: str, inquiry: Record | None, status: str = "passed") -> Record:
    """A completed verification of `type_` with its documented attributes, attached to `inquiry`."""
    _segment, names, attributes = SAMPLES[type_]
    stamp = now_iso()
    template_id = "vtmpl_Sandbox" + "".join(p.capitalize() for p in type_.split("/", 1)[1].split("-"))
    verification = state.add("ver", type_, {}, _relationships(type_, names, inquiry, template_id))
    if "document" in names and verification.relationships is not None:
        kind = {
            "verification/document": "generic",
            "verification/government-id-nfc": "government-id-nfc",
        }.get(type_, "government-id")
        verification.relationships["document"] = ref(f"document/{kind}", state.ids.new("doc"))
    rendered = _signed(copy.deepcopy(attributes), verification.id)
    rendered.update({"status": status, "created-at": stamp})
    for key in ("submitted-at", "completed-at"):
        if key in rendered:
            rendered[key] = stamp
    verification.attributes = rendered
    verification.internal["locked"] = False
    if inquiry is not None and inquiry.relationships is not None:
        inquiry.relationships["verifications"]["data"].append({"type": type_, "id": verification.id})
    state.emit(f"verification.{status}", verification)
    return verification


def get_verification(state: SandboxState, verification_id: str, type_: str | None = None) -> Record:
    """Any verification (`type_` None), or one of exactly `type_` (a typed endpoint: 404 otherwise)."""
    if type_ is None:
        return state.get(verification_id, "verification", type_prefix="verification/")
    return state.get(verification_id, type_)


def set_lock(state: SandboxState, verification: Record, locked: bool) -> Record:
    verification.internal["locked"] = locked
    return verification


def redact(state: SandboxState, verification: Record) -> Record:
    """Blank the personal data; refused (409) while the verification is locked for investigation."""
    if verification.internal.get("locked"):
        raise conflict(f"Verification {verification.id} is locked for investigation; unlock it first")
    if not verification.internal.get("redacted"):
        # Lists are emptied; other personal values go (many are typed non-null, so no null stands in).
        for key, value in list(verification.attributes.items()):
            if isinstance(value, list):
                verification.attributes[key] = []
            elif key not in _KEPT:
                del verification.attributes[key]
        verification.attributes.setdefault("tags", [])
        verification.internal["redacted"] = True
        state.emit("verification.redacted", verification)
    return verification


def _business_values(attributes: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    values = {key: attributes[key] for key in _BUSINESS_FIELDS if key in attributes}
    for key, value in values.items():
        validation.check_string(key, value)
    if creating:
        for key in ("business-name", "address-country-code"):
            if not values.get(key):
                raise invalid_attribute(key, f"data.attributes.{key} is missing")
    if values.get("address-country-code") is not None:
        validation.check_country("address-country-code", values["address-country-code"])
    return values


def create_database_business(state: SandboxState, attributes: dict[str, Any]) -> Record:
    """An `initiated` database-business verification, to be submitted once its inputs are right."""
    template_id = attributes.get("verification-template-id")
    if not isinstance(template_id, str) or not template_id.startswith("vtmpl_"):
        raise invalid_attribute(
            "verification-template-id", "data.attributes.verification-template-id is missing"
        )
    values = _business_values(attributes, creating=True)
    stamp = now_iso()
    names = ("inquiry", "template", "transaction", "verification-template", "verification-template-version")
    verification = state.add(
        "ver",
        DATABASE_BUSINESS,
        {
            "status": "initiated",
            "created-at": stamp,
            "submitted-at": None,
            "completed-at": None,
            "country-code": values.get("address-country-code"),
            "checks": [],
            **{key: values.get(key) for key in _BUSINESS_FIELDS},
        },
        _relationships(DATABASE_BUSINESS, names, None, template_id),
        locked=False,
    )
    state.emit("verification.created", verification)
    return verification


def update_database_business(state: SandboxState, verification: Record, attributes: dict[str, Any]) -> Record:
    if verification.attributes["status"] != "initiated":
        raise conflict(f"Verification {verification.id} was submitted; its inputs can no longer change")
    values = _business_values(attributes, creating=False)
    verification.attributes.update(values)
    if "address-country-code" in values:
        verification.attributes["country-code"] = values["address-country-code"]
    return verification


def submit_database_business(state: SandboxState, verification: Record) -> Record:
    """Run the check: it passes when the business has a name and a country (the sandbox's rule)."""
    if verification.attributes["status"] != "initiated":
        raise conflict(f"Verification {verification.id} was submitted already")
    stamp = now_iso()
    passed = bool(verification.attributes.get("business-name"))
    status = "passed" if passed else "failed"
    verification.attributes.update({"status": status, "submitted-at": stamp, "completed-at": stamp})
    verification.attributes["checks"] = [
        {
            "name": "database_business_name_comparison",
            "status": status,
            "reasons": [],
            "requirement": "required",
            "metadata": {},
        }
    ]
    state.emit("verification.submitted", verification)
    state.emit(f"verification.{status}", verification)
    return verification
