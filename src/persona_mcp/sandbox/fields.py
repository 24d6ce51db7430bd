"""Persona's typed field entries (`{"type": ..., "value": ...}`) built from request values."""

from __future__ import annotations

from typing import Any


def entry(value: Any, type_: str | None = None) -> dict[str, Any]:
    """A field entry; a value already shaped `{type, value}` is kept as sent."""
    if isinstance(value, dict) and "type" in value:
        return dict(value)
    if type_ is None:
        type_ = _type_of(value)
    return {"type": type_, "value": value}


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "hash"
    return "string"


def custom_fields(raw: Any) -> dict[str, dict[str, Any]]:
    """`data.attributes.fields` from a request: keys kept verbatim (Persona never re-cases them)."""
    if not isinstance(raw, dict):
        return {}
    return {str(key): entry(value) for key, value in raw.items()}
