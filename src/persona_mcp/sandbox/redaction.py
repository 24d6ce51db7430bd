"""Wiping personal data out of `attributes.fields` while keeping the object's shape (PROTOCOL.md s15)."""

from __future__ import annotations

from typing import Any

from persona_mcp.sandbox.clock import now_iso
from persona_mcp.sandbox.records import Record


def wipe_field(entry: Any) -> Any:
    """Blank a `{type, value}` field entry, recursing into hashes; arrays lose their elements."""
    if not isinstance(entry, dict) or "type" not in entry:
        return entry
    wiped = dict(entry)
    if entry["type"] == "hash" and isinstance(entry.get("value"), dict):
        wiped["value"] = {key: wipe_field(child) for key, child in entry["value"].items()}
    elif entry["type"] == "array":
        wiped["value"] = []
    else:
        wiped["value"] = None
    return wiped


def redact(record: Record) -> None:
    """Remove the record's PII and stamp `redacted-at`; the object itself stays readable."""
    fields = record.attributes.get("fields") or {}
    record.attributes["fields"] = {key: wipe_field(entry) for key, entry in fields.items()}
    stamp = now_iso()
    record.attributes["redacted-at"] = stamp
    record.attributes["updated-at"] = stamp
    record.internal["redacted"] = True
