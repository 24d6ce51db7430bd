"""Importers: bulk imports of accounts and list items from a CSV file (or face images), one job each.

The sandbox runs an import at once: every row becomes an account or a list item through the same domain
functions the single-object API uses, a row those refuse counts as an error, and a value the list holds
already counts as a duplicate. The importer is `ready` with its counts when the call returns.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
from typing import Any

from persona_mcp.sandbox.clock import now_iso
from persona_mcp.sandbox.domain import accounts, lists
from persona_mcp.sandbox.domain.shapes import add_shaped
from persona_mcp.sandbox.errors import ApiError, invalid_attribute
from persona_mcp.sandbox.records import Record
from persona_mcp.sandbox.store import SandboxState

#: CSV columns each list-item import reads (Persona's import docs), mapped to item attributes.
COLUMNS: dict[str, dict[str, str]] = {
    "email-address": {"value": "value", "match_type": "match-type"},
    "geolocation": {"latitude": "latitude", "longitude": "longitude", "radius_meters": "radius-meters"},
    "government-id-number": {"id_number": "id-number", "id_class": "id-class"},
    "ip-address": {"value": "value"},
    "name": {"name_first": "name-first", "name_last": "name-last"},
    "phone-number": {"value": "value"},
}
_ACCOUNT_COLUMNS = ("reference_id", "name_first", "name_middle", "name_last", "birthdate", "tags")
_NUMERIC = ("latitude", "longitude", "radius-meters")


def _rows(attributes: dict[str, Any]) -> list[dict[str, str]]:
    upload = attributes.get("file")
    if not isinstance(upload, dict) or not isinstance(upload.get("data"), str):
        raise invalid_attribute("file", "data.attributes.file needs base64 data")
    try:
        text = base64.b64decode(upload["data"], validate=True).decode("utf-8-sig")
    except (binascii.Error, ValueError):
        raise invalid_attribute("file", "data.attributes.file is not base64-encoded UTF-8 CSV") from None
    return [dict(row) for row in csv.DictReader(io.StringIO(text))]


def _importer(state: SandboxState, kind: str, counts: dict[str, int], operation: str) -> Record:
    return add_shaped(
        state,
        operation,
        "mprt",
        type_=f"importer/{kind}",
        attributes={
            "status": "ready",
            "created-at": now_iso(),
            "completed-at": now_iso(),
            "error-count": counts["error"],
            "successful-count": counts["ok"],
            "duplicate-count": counts["duplicate"],
        },
        internal={"kind": kind},
    )


def import_list_items(state: SandboxState, kind: str, attributes: dict[str, Any], operation: str) -> Record:
    list_id = attributes.get("list-id")
    if not isinstance(list_id, str) or not list_id:
        raise invalid_attribute("list-id", "data.attributes.list-id is missing")
    owner = state.get(list_id, "list", type_prefix="list/")
    if owner.type != f"list/{kind}":
        raise invalid_attribute("list-id", f"List {list_id} is a {owner.type} list, not a list/{kind} list")
    rows = _rows(attributes)
    item_kind = lists.KINDS_BY_NAME[kind]
    present = {_key(state.records[i]) for i in owner.internal.get("item-ids", []) if i in state.records}
    counts = {"ok": 0, "error": 0, "duplicate": 0}
    for row in rows:
        values: dict[str, Any] = {
            target: row[column].strip()
            for column, target in COLUMNS[kind].items()
            if row.get(column) not in (None, "")
        }
        try:
            for name in _NUMERIC:
                if name in values:
                    values[name] = float(values[name])
            key = tuple(sorted((k, str(v)) for k, v in values.items()))
            if key in present:
                counts["duplicate"] += 1
                continue
            lists.create_item(state, item_kind, {"list-id": list_id, **values})
        except (ApiError, ValueError):
            counts["error"] += 1
            continue
        present.add(key)
        counts["ok"] += 1
    return _importer(state, f"list-item/{kind}", counts, operation)


def _key(item: Record) -> tuple[tuple[str, str], ...]:
    names = {target for columns in COLUMNS.values() for target in columns.values()}
    return tuple(sorted((k, str(v)) for k, v in item.attributes.items() if k in names and v is not None))


def import_accounts(state: SandboxState, attributes: dict[str, Any]) -> Record:
    counts = {"ok": 0, "error": 0, "duplicate": 0}
    for row in _rows(attributes):
        values: dict[str, Any] = {
            column.replace("_", "-"): row[column].strip()
            for column in _ACCOUNT_COLUMNS
            if row.get(column) not in (None, "")
        }
        if "tags" in values:
            values["tags"] = [t.strip() for t in values["tags"].split(";") if t.strip()]
        reference = values.get("reference-id")
        if reference and accounts.find_by_reference(state, reference) is not None:
            counts["duplicate"] += 1
            continue
        try:
            accounts.create_account(state, values)
        except ApiError:
            counts["error"] += 1
            continue
        counts["ok"] += 1
    return _importer(state, "account", counts, "importers.import_accounts")


def import_faces(state: SandboxState, attributes: dict[str, Any]) -> Record:
    """Face images: each must be a named base64 file.

    Face lists exist only through Persona's hidden endpoints, which the sandbox does not emulate: it takes
    a face import into any list it holds and counts the images, creating no list items.
    """
    list_id = attributes.get("list-id")
    if not isinstance(list_id, str) or not list_id:
        raise invalid_attribute("list-id", "data.attributes.list-id is missing")
    state.get(list_id, "list", type_prefix="list/")
    images = attributes.get("image-files")
    if not isinstance(images, list) or not images:
        raise invalid_attribute("image-files", "data.attributes.image-files must list the images")
    counts = {"ok": 0, "error": 0, "duplicate": 0}
    for image in images:
        try:
            base64.b64decode(str(image.get("data", "")) if isinstance(image, dict) else "", validate=True)
            counts["ok" if isinstance(image, dict) and image.get("data") else "error"] += 1
        except (binascii.Error, ValueError):
            counts["error"] += 1
    return _importer(state, "list-item/face", counts, "importers.import_email_addresses")
