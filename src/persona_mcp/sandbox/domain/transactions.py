"""Transactions: a screened event of your business (a payment, a sign-up) with fields, tags, a label.

A new transaction is `created`; `update` may move its status. Redaction wipes every field for good and
leaves a readable object; redacting biometrics wipes only the image fields. A label (fraud or not) is a
decision recorded as the `transaction-label` relationship. Relations point at accounts or other
transactions, as on accounts.
"""

from __future__ import annotations

from typing import Any

from persona_mcp.sandbox import tags
from persona_mcp.sandbox.clock import now_iso
from persona_mcp.sandbox.domain.shapes import add_shaped
from persona_mcp.sandbox.errors import ApiError, conflict, invalid_attribute, not_found
from persona_mcp.sandbox.fields import custom_fields, entry
from persona_mcp.sandbox.records import Record, ref
from persona_mcp.sandbox.redaction import wipe_field
from persona_mcp.sandbox.store import SandboxState

_UPDATABLE = ("status", "reference-id")


def _check_tags(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise invalid_attribute("tags", "data.attributes.tags must be an array of tag names")
    return list(dict.fromkeys(value))


def create_transaction(
    state: SandboxState, attributes: dict[str, Any], *, object_id: str | None = None
) -> Record:
    type_id = attributes.get("transaction-type-id")
    if not isinstance(type_id, str) or not type_id.startswith("txntp_"):
        raise invalid_attribute("transaction-type-id", "data.attributes.transaction-type-id is missing")
    stamp = now_iso()
    names = _check_tags(attributes.get("tags"))
    for name in names:
        state.tag_id(name)
    return add_shaped(
        state,
        "transactions.create",
        "txn",
        attributes={
            "status": "created",
            "reference-id": attributes.get("reference-id"),
            "fields": custom_fields(attributes.get("fields")),
            "tags": names,
            "created-at": stamp,
            "updated-at": stamp,
        },
        relationships={
            "reviewer": {"data": None},
            "transaction-label": {"data": None},
            "transaction-type": ref("transaction-type", type_id),
            "related-objects": {"data": []},
        },
        object_id=object_id,
    )


def _writable(record: Record) -> Record:
    if record.internal.get("redacted"):
        raise conflict(f"Transaction {record.id} is redacted")
    return record


def update_transaction(record: Record, attributes: dict[str, Any]) -> Record:
    _writable(record)
    for name in _UPDATABLE:
        if name in attributes:
            record.attributes[name] = attributes[name]
    if "fields" in attributes:
        record.attributes["fields"].update(custom_fields(attributes["fields"]))
    if "tags" in attributes:
        record.attributes["tags"] = _check_tags(attributes["tags"])
    record.attributes["updated-at"] = now_iso()
    return record


def redact(record: Record) -> Record:
    """Wipe every field value (the object and its status stay readable); redacting again is a no-op."""
    record.attributes["fields"] = {k: wipe_field(v) for k, v in record.attributes["fields"].items()}
    record.attributes["reference-id"] = None
    record.attributes["updated-at"] = now_iso()
    record.internal["redacted"] = True
    return record


def redact_biometrics(record: Record) -> Record:
    """Wipe the image fields only (selfies, id photos): the biometric data."""
    fields = record.attributes["fields"]
    for key, value in fields.items():
        if isinstance(value, dict) and value.get("type") == "file":
            fields[key] = wipe_field(value)
    record.attributes["updated-at"] = now_iso()
    return record


def label(state: SandboxState, record: Record, meta: dict[str, Any]) -> Record:
    name = meta.get("label")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(422, "Invalid attribute", "meta.label is missing", pointer="/meta/label")
    score = meta.get("score")
    if score is not None and not isinstance(score, int | float):
        raise ApiError(422, "Invalid attribute", "meta.score must be a number", pointer="/meta/score")
    _writable(record)
    label_id = state.ids.new("txnl")
    record.internal["label"] = {"label": name, "score": score, "model-version": meta.get("model-version")}
    assert record.relationships is not None
    record.relationships["transaction-label"] = ref("transaction-label", label_id)
    record.attributes["updated-at"] = now_iso()
    return record


def add_tag(state: SandboxState, record: Record, meta: dict[str, Any]) -> Record:
    tags.add_tag(state, _writable(record), meta)
    return record


def remove_tag(state: SandboxState, record: Record, meta: dict[str, Any]) -> Record:
    tags.remove_tag(state, _writable(record), meta)
    return record


def set_tags(state: SandboxState, record: Record, meta: dict[str, Any]) -> Record:
    tags.set_tags(state, _writable(record), meta)
    return record


def _relation(meta: dict[str, Any]) -> tuple[str, str]:
    key, target_id = meta.get("relation-schema-key"), meta.get("target-object-id")
    for name, value in (("relation-schema-key", key), ("target-object-id", target_id)):
        if not isinstance(value, str) or not value:
            raise ApiError(422, "Invalid attribute", f"meta.{name} is missing", pointer=f"/meta/{name}")
    assert isinstance(key, str) and isinstance(target_id, str)
    return key, target_id


def add_relation(state: SandboxState, record: Record, meta: dict[str, Any]) -> Record:
    key, target_id = _relation(meta)
    target = state.records.get(target_id)
    if target is None or target.type not in ("account", "transaction"):
        raise not_found("object", target_id)
    relations: list[dict[str, str]] = record.internal.setdefault("relations", [])
    if not any(r["key"] == key and r["target"] == target_id for r in relations):
        relations.append({"key": key, "target": target_id})
    _sync_related(state, record)
    return record


def remove_relation(state: SandboxState, record: Record, meta: dict[str, Any]) -> Record:
    key, target_id = _relation(meta)
    relations: list[dict[str, str]] = record.internal.setdefault("relations", [])
    kept = [r for r in relations if not (r["key"] == key and r["target"] == target_id)]
    if len(kept) == len(relations):
        raise not_found("relation", f"{key}:{target_id}")
    record.internal["relations"] = kept
    _sync_related(state, record)
    return record


def _sync_related(state: SandboxState, record: Record) -> None:
    assert record.relationships is not None
    targets = dict.fromkeys(r["target"] for r in record.internal.get("relations", []))
    record.relationships["related-objects"] = {
        "data": [{"type": state.records[t].type, "id": t} for t in targets if t in state.records]
    }
    record.attributes["updated-at"] = now_iso()


def seed_fields(name_first: str, name_last: str, photo_url: str) -> dict[str, Any]:
    """Fields of a seeded transaction in the documented shape (names and an id photo link)."""
    photo = {"filename": "front.png", "byte-size": 237011, "mime-type": "image/png", "url": photo_url}
    return {
        "name-first": entry(name_first),
        "name-last": entry(name_last),
        "front-photo": {"type": "file", "value": photo},
    }
