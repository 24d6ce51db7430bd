"""Request bodies in Persona's shape, built from validated arguments.

Object attributes go under `data.attributes` in kebab-case; action inputs go under `meta` (tags,
consolidate, comments, expiry); only `run-action` puts its inputs directly under `data`. Unset optional
arguments are left out entirely, so an update never clears a value the agent did not mention.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from pydantic import BaseModel

from persona_mcp.tools.results import kebab


def _json_value(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def pick(args: BaseModel, names: Iterable[str], *, rename: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The named arguments that were given (not None), keyed by Persona's kebab-case name."""
    rename = rename or {}
    picked: dict[str, Any] = {}
    for name in names:
        value = getattr(args, name)
        if value is not None:
            picked[rename.get(name, kebab(name))] = _json_value(value)
    return picked


def attributes_body(attributes: Mapping[str, Any], meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`{"data": {"attributes": ...}}` plus `meta` when there is any."""
    body: dict[str, Any] = {"data": {"attributes": dict(attributes)}}
    if meta:
        body["meta"] = dict(meta)
    return body


def meta_body(meta: Mapping[str, Any]) -> dict[str, Any] | None:
    """`{"meta": ...}`, or no body at all when there is nothing to say."""
    return {"meta": dict(meta)} if meta else None
