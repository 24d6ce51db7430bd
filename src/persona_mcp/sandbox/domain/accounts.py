"""Accounts: create, update, redact, consolidate, relations (PROTOCOL.md sections 14-15)."""

from __future__ import annotations

from typing import Any

from persona_mcp.sandbox import validation
from persona_mcp.sandbox.clock import now_iso
from persona_mcp.sandbox.errors import ApiError, conflict, invalid_attribute, not_found
from persona_mcp.sandbox.fields import custom_fields, entry
from persona_mcp.sandbox.records import Record, ref
from persona_mcp.sandbox.redaction import redact
from persona_mcp.sandbox.store import SandboxState

ACCOUNT_TYPE_ID = "acttp_SandboxUserType000000000"
ACCOUNT_TYPE_NAME = "User"

#: Request attribute -> (field, sub-key inside the hash or None).
_PII_ATTRIBUTES: dict[str, tuple[str, str | None]] = {
    "name-first": ("name", "first"),
    "name-middle": ("name", "middle"),
    "name-last": ("name", "last"),
    "address-street-1": ("address", "street_1"),
    "address-street-2": ("address", "street_2"),
    "address-subdivision": ("address", "subdivision"),
    "address-city": ("address", "city"),
    "address-postal-code": ("address", "postal_code"),
    "country-code": ("address", "country_code"),
    "birthdate": ("birthdate", None),
    "phone-number": ("phone_number", None),
    "email-address": ("email_address", None),
}


def _empty_fields() -> dict[str, Any]:
    blank = entry(None, "string")
    return {
        "name": entry({k: dict(blank) for k in ("first", "middle", "last")}, "hash"),
        "address": entry(
            {
                k: dict(blank)
                for k in ("street_1", "street_2", "subdivision", "city", "postal_code", "country_code")
            },
            "hash",
        ),
        "identification_numbers": entry([], "array"),
        "birthdate": entry(None, "date"),
        "phone_number": dict(blank),
        "email_address": dict(blank),
        "selfie_photo": entry(None, "file"),
    }


def _validate(attributes: dict[str, Any]) -> None:
    validation.check_email("email-address", attributes.get("email-address"))
    validation.check_country("country-code", attributes.get("country-code"))
    validation.check_date("birthdate", attributes.get("birthdate"))
    validation.check_tags("tags", attributes.get("tags"))
    for name in (
        "reference-id",
        "name-first",
        "name-middle",
        "name-last",
        "phone-number",
        "social-security-number",
    ):
        validation.check_string(name, attributes.get(name))
    if (
        "fields" in attributes
        and attributes["fields"] is not None
        and not isinstance(attributes["fields"], dict)
    ):
        raise invalid_attribute("fields", "data.attributes.fields must be an object")


def _apply(state: SandboxState, record: Record, attributes: dict[str, Any]) -> None:
    fields = record.attributes["fields"]
    for name, (field, sub) in _PII_ATTRIBUTES.items():
        if name not in attributes:
            continue
        value = attributes[name]
        if name == "country-code" and isinstance(value, str):
            value = value.upper()
        if sub is None:
            fields[field]["value"] = value
        else:
            fields[field]["value"][sub]["value"] = value
    ssn = attributes.get("social-security-number")
    if ssn:
        fields["identification_numbers"]["value"].append(
            entry(
                {
                    "identification_class": entry("ssn", "string"),
                    "identification_number": entry(ssn, "string"),
                    "issuing_country": entry("US", "string"),
                },
                "hash",
            )
        )
    fields.update(custom_fields(attributes.get("fields")))
    if "reference-id" in attributes:
        record.attributes["reference-id"] = attributes["reference-id"]
        if attributes["reference-id"]:
            state.account_references[attributes["reference-id"]] = record.id
    if attributes.get("tags") is not None:
        record.attributes["tags"] = list(dict.fromkeys(attributes["tags"]))


def inquiries_of(state: SandboxState, account_id: str) -> list[Record]:
    return state.of_type(lambda r: r.type == "inquiry" and r.internal.get("account-id") == account_id)


def find_by_reference(state: SandboxState, reference_id: str) -> Record | None:
    """The account holding this reference id: a look-up, not a scan, so a create costs the same at any size.

    Every reference id is set by `_apply`, which keeps `state.account_references`; an entry left behind
    when an account's reference id changed or was wiped is checked here and ignored.
    """
    record = state.records.get(state.account_references.get(reference_id, ""))
    if record is not None and record.type == "account" and record.attributes["reference-id"] == reference_id:
        return record
    return None


def create_account(state: SandboxState, attributes: dict[str, Any]) -> Record:
    """A new account; a reference id already in use is a 409 (PROTOCOL.md section 7)."""
    _validate(attributes)
    reference_id = attributes.get("reference-id")
    if reference_id and find_by_reference(state, reference_id) is not None:
        raise conflict(f"An account with reference-id {reference_id} already exists")
    stamp = now_iso()
    record = state.add(
        "act",
        "account",
        {
            "reference-id": None,
            "account-type-name": ACCOUNT_TYPE_NAME,
            "created-at": stamp,
            "updated-at": stamp,
            "redacted-at": None,
            "fields": _empty_fields(),
            "tags": [],
        },
        {"account-type": ref("account-type", ACCOUNT_TYPE_ID)},
        relations=[],
        consolidated_into=None,
    )
    _apply(state, record, attributes)
    state.emit("account.created", record)
    return record


def update_account(state: SandboxState, record: Record, attributes: dict[str, Any]) -> Record:
    """Change attributes; allowed after redaction too (new data may be written again)."""
    _validate(attributes)
    reference_id = attributes.get("reference-id")
    if reference_id:
        holder = find_by_reference(state, reference_id)
        if holder is not None and holder.id != record.id:
            raise conflict(f"An account with reference-id {reference_id} already exists")
    _apply(state, record, attributes)
    record.attributes["updated-at"] = now_iso()
    state.emit("account.updated-fields", record)
    return record


def redact_account(state: SandboxState, record: Record) -> Record:
    """Wipe the account's PII and that of its inquiries (Persona does the children asynchronously)."""
    redact(record)
    for inquiry in inquiries_of(state, record.id):
        redact(inquiry)
    state.emit("account.redacted", record)
    return record


def consolidate(state: SandboxState, destination: Record, source_ids: Any) -> Record:
    """Merge sources into the destination; each source is archived and can be consolidated only once."""
    if not isinstance(source_ids, list) or not source_ids or not all(isinstance(i, str) for i in source_ids):
        raise ApiError(
            422,
            "Invalid attribute",
            "meta.source-account-ids must be a non-empty array",
            pointer="/meta/source-account-ids",
        )
    if destination.internal["consolidated_into"] is not None:
        raise conflict(f"Account {destination.id} was consolidated into another account")
    sources = [state.get(source_id, "account") for source_id in source_ids]
    for source in sources:
        if source.id == destination.id:
            raise ApiError(
                422,
                "Invalid attribute",
                "An account cannot be consolidated into itself",
                pointer="/meta/source-account-ids",
            )
        if source.internal["consolidated_into"] is not None:
            raise conflict(f"Account {source.id} has already been consolidated")
    for source in sources:
        source.internal["consolidated_into"] = destination.id
        source.attributes["updated-at"] = now_iso()
        for inquiry in inquiries_of(state, source.id):
            inquiry.internal["account-id"] = destination.id
            inquiry.relationships = {
                **(inquiry.relationships or {}),
                "account": ref("account", destination.id),
            }
        state.emit("account.archived", source)
    destination.attributes["updated-at"] = now_iso()
    state.emit("account.consolidated", destination, {"source-account-ids": [s.id for s in sources]})
    return destination


def add_relation(state: SandboxState, record: Record, meta: dict[str, Any]) -> Record:
    key, target_id = _relation_meta(meta)
    target = state.records.get(target_id)
    if target is None or target.type not in ("account", "transaction"):
        raise not_found("object", target_id)
    relations: list[dict[str, Any]] = record.internal["relations"]
    if not any(r["key"] == key and r["target"] == target_id for r in relations):
        relations.append({"key": key, "target": target_id, "created-at": now_iso()})
    record.attributes["updated-at"] = now_iso()
    state.emit("account.added-relation", record, {"relation-schema-key": key, "target-account-id": target_id})
    return record


def remove_relation(state: SandboxState, record: Record, meta: dict[str, Any]) -> Record:
    key, target_id = _relation_meta(meta)
    relations: list[dict[str, Any]] = record.internal["relations"]
    kept = [r for r in relations if not (r["key"] == key and r["target"] == target_id)]
    if len(kept) == len(relations):
        raise not_found("relation", f"{key}:{target_id}")
    record.internal["relations"] = kept
    record.attributes["updated-at"] = now_iso()
    state.emit(
        "account.removed-relation", record, {"relation-schema-key": key, "target-account-id": target_id}
    )
    return record


def _relation_meta(meta: dict[str, Any]) -> tuple[str, str]:
    key, target_id = meta.get("relation-schema-key"), meta.get("target-object-id")
    for name, value in (("relation-schema-key", key), ("target-object-id", target_id)):
        if not isinstance(value, str) or not value:
            raise ApiError(422, "Invalid attribute", f"meta.{name} is missing", pointer=f"/meta/{name}")
    assert isinstance(key, str) and isinstance(target_id, str)
    return key, target_id
