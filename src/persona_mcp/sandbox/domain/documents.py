"""Documents: generic documents and government ids, created from uploaded files, then submitted.

A document is `initiated` while files may still be added or replaced, and `processed` once submitted (the
sandbox processes at once). Changing or submitting a processed document is a 409. Every uploaded file
is answered as Persona does: a filename, a size and a signed link that opens it without an API key.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from persona_mcp.sandbox.clock import now, now_iso
from persona_mcp.sandbox.domain.inquiries import signed_file_url
from persona_mcp.sandbox.domain.shapes import add_shaped, example_resource
from persona_mcp.sandbox.errors import conflict, invalid_attribute
from persona_mcp.sandbox.fields import custom_fields
from persona_mcp.sandbox.records import Record, ref
from persona_mcp.sandbox.store import SandboxState

GENERIC = "document/generic"
GOVERNMENT_ID = "document/government-id"
_PHOTOS = ("front-photo", "back-photo")


def _file(name: str, raw: Any, record_salt: str) -> dict[str, Any]:
    """One uploaded file `{data: base64, filename}` as Persona answers it."""
    if not isinstance(raw, dict) or not isinstance(raw.get("filename"), str) or not raw["filename"]:
        raise invalid_attribute(name, f"data.attributes.{name} needs a filename and base64 data")
    try:
        size = len(base64.b64decode(str(raw.get("data", "")), validate=True))
    except (binascii.Error, ValueError):
        raise invalid_attribute(name, f"data.attributes.{name} data is not base64") from None
    filename = raw["filename"]
    return {"filename": filename, "url": signed_file_url(filename, record_salt), "byte-size": size}


def _files(name: str, raw: Any, salt: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise invalid_attribute(name, f"data.attributes.{name} must be an array of files")
    return [_file(name, item, salt) for item in raw]


def _relations(state: SandboxState, attributes: dict[str, Any]) -> dict[str, Any]:
    related: dict[str, Any] = {
        name: {"data": None}
        for name in ("inquiry", "template", "inquiry-template", "inquiry-template-version")
    }
    related["document-files"] = {"data": []}
    inquiry_id = attributes.get("inquiry-id")
    if inquiry_id is not None:
        inquiry = state.get(str(inquiry_id), "inquiry")
        related["inquiry"] = ref("inquiry", inquiry.id)
        template = (inquiry.relationships or {}).get("inquiry-template")
        if template is not None:
            related["inquiry-template"] = template
    if attributes.get("account-id") is not None:
        state.get(str(attributes["account-id"]), "account")
    return related


def create_generic(
    state: SandboxState, attributes: dict[str, Any], *, object_id: str | None = None
) -> Record:
    kind = attributes.get("kind")
    if not isinstance(kind, str) or not kind:
        raise invalid_attribute("kind", "data.attributes.kind is missing")
    related = _relations(state, attributes)
    record = add_shaped(
        state,
        "documents.retrieve_generic",
        "doc",
        attributes={
            "status": "initiated",
            "created-at": now_iso(),
            "processed-at": None,
            "processed-at-ts": None,
            "kind": kind,
            "files": [],
            "files-normalized": [],
            "extraction-responses": [],
            "fields": {},
        },
        relationships=related,
        object_id=object_id,
    )
    files = _files("files", attributes.get("files") or [], record.id)
    record.attributes.update({"files": files, "files-normalized": list(files)})
    attach(state, record)
    return record


def attach(state: SandboxState, document: Record) -> None:
    """List the document among its inquiry's `documents`, as Persona's inquiries do."""
    inquiry_id = (document.relationships or {}).get("inquiry", {}).get("data") or {}
    inquiry = state.records.get(inquiry_id.get("id", ""))
    if inquiry is not None and inquiry.relationships is not None:
        documents = inquiry.relationships.setdefault("documents", {"data": []})
        documents["data"].append({"type": document.type, "id": document.id})


def create_government_id(
    state: SandboxState, attributes: dict[str, Any], *, object_id: str | None = None
) -> Record:
    for name in ("country-code", "inquiry-id"):
        if not isinstance(attributes.get(name), str) or not attributes[name]:
            raise invalid_attribute(name, f"data.attributes.{name} is missing")
    related = _relations(state, attributes)
    blank = {
        key: None
        for key, value in example_resource("documents.retrieve_government_id")["attributes"].items()
        if key not in ("designations",) and not isinstance(value, int)
    }
    record = add_shaped(
        state,
        "documents.retrieve_government_id",
        "doc",
        attributes={**blank, "status": "initiated", "created-at": now_iso(), "designations": []},
        relationships=related,
        object_id=object_id,
    )
    _apply_photos(record, attributes)
    attach(state, record)
    record.internal["selected"] = {
        "country-code": attributes.get("selected-country-code") or attributes["country-code"],
        "id-class": attributes.get("selected-id-class"),
    }
    return record


def _apply_photos(record: Record, attributes: dict[str, Any]) -> None:
    for name in _PHOTOS:
        if name not in attributes:
            continue
        photo = attributes[name]
        if photo is None:
            record.attributes[name] = None
            continue
        pages = photo.get("data") if isinstance(photo, dict) else None
        files = _files(name, pages or [], record.id)
        record.attributes[name] = files[0] if files else None


def _initiated(record: Record, action: str) -> Record:
    if record.attributes.get("status") != "initiated":
        raise conflict(f"Document {record.id} is {record.attributes.get('status')}; cannot {action} it")
    return record


def update(record: Record, attributes: dict[str, Any]) -> Record:
    _initiated(record, "update")
    if record.type == GENERIC:
        if "kind" in attributes:
            record.attributes["kind"] = attributes["kind"]
        if "files" in attributes:
            files = _files("files", attributes["files"] or [], record.id)
            record.attributes.update({"files": files, "files-normalized": list(files)})
        if "fields" in attributes:
            record.attributes["fields"] = custom_fields(attributes["fields"])
    else:
        _apply_photos(record, attributes)
        for name in ("selected-country-code", "selected-id-class"):
            if name in attributes:
                record.internal.setdefault("selected", {})[name.removeprefix("selected-")] = attributes[name]
    return record


def submit(record: Record) -> Record:
    """Processing is immediate in the sandbox: the document is `processed` when the call returns."""
    _initiated(record, "submit")
    moment = now()
    record.attributes.update(
        {"status": "processed", "processed-at": now_iso(), "processed-at-ts": int(moment.timestamp())}
    )
    return record
