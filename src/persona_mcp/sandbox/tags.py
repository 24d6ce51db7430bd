"""Tag actions shared by accounts and inquiries: add-tag, remove-tag (one tag), set-tags (all tags)."""

from __future__ import annotations

from typing import Any

from persona_mcp.sandbox.clock import now_iso
from persona_mcp.sandbox.errors import ApiError, not_found
from persona_mcp.sandbox.records import Record
from persona_mcp.sandbox.store import SandboxState


def _name_from(state: SandboxState, meta: dict[str, Any]) -> str:
    name, tag_id = meta.get("tag-name"), meta.get("tag-id")
    if isinstance(name, str) and name.strip():
        return name
    if isinstance(tag_id, str) and tag_id:
        if tag_id not in state.tag_ids:
            raise not_found("tag", tag_id)
        return state.tag_ids[tag_id]
    raise ApiError(
        422, "Invalid attribute", "meta.tag-name or meta.tag-id is required", pointer="/meta/tag-name"
    )


def add_tag(state: SandboxState, record: Record, meta: dict[str, Any]) -> None:
    name = _name_from(state, meta)
    state.tag_id(name)
    if name not in record.attributes["tags"]:
        record.attributes["tags"].append(name)
    record.attributes["updated-at"] = now_iso()


def remove_tag(state: SandboxState, record: Record, meta: dict[str, Any]) -> None:
    name = _name_from(state, meta)
    if name in record.attributes["tags"]:
        record.attributes["tags"].remove(name)
    record.attributes["updated-at"] = now_iso()


def set_tags(state: SandboxState, record: Record, meta: dict[str, Any]) -> None:
    names, ids = meta.get("tag-name"), meta.get("tag-id")
    if names is None and ids is None:
        raise ApiError(
            422,
            "Invalid attribute",
            "meta.tag-name or meta.tag-id (array) is required",
            pointer="/meta/tag-name",
        )
    chosen: list[str] = []
    for value, key in ((names, "tag-name"), (ids, "tag-id")):
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ApiError(
                422, "Invalid attribute", f"meta.{key} must be an array of strings", pointer=f"/meta/{key}"
            )
        for item in value:
            chosen.append(_name_from(state, {key: item}))
    for name in chosen:
        state.tag_id(name)
    record.attributes["tags"] = list(dict.fromkeys(chosen))
    record.attributes["updated-at"] = now_iso()
