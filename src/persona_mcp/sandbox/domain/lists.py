"""Lists and list items (PROTOCOL.md section 13).

Every list item kind is described once in `ITEM_KINDS` (path segment, id prefix, value attributes,
checks); routes and seed data are derived from that table. Archiving (HTTP DELETE) never deletes:
the object stays readable with status `archived`. Persona defines no list events, so none are recorded.
A list's `list-items` relationship stays empty, as in every Persona example (the spec allows only empty
linkage objects there); the sandbox tracks a list's items internally.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from persona_mcp.sandbox import validation
from persona_mcp.sandbox.clock import now_iso
from persona_mcp.sandbox.errors import conflict, invalid_attribute
from persona_mcp.sandbox.records import Record
from persona_mcp.sandbox.store import SandboxState

Check = Callable[[dict[str, Any]], None]


def _required(attributes: dict[str, Any], name: str, kind: type | tuple[type, ...] = str) -> Any:
    value = attributes.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise invalid_attribute(name, f"data.attributes.{name} is missing")
    if not isinstance(value, kind) or isinstance(value, bool):
        raise invalid_attribute(name, f"data.attributes.{name} has the wrong type")
    return value


def _email_item(attributes: dict[str, Any]) -> None:
    match_type = attributes.setdefault("match-type", "email_address")
    if match_type not in ("email_address", "domain"):
        raise invalid_attribute("match-type", "data.attributes.match-type must be email_address or domain")
    if match_type == "email_address":
        validation.check_email("value", attributes["value"])


def _ip_item(attributes: dict[str, Any]) -> None:
    try:
        ipaddress.ip_address(attributes["value"])
    except ValueError as exc:
        raise invalid_attribute("value", "data.attributes.value is not an IPv4 or IPv6 address") from exc


def _country_item(attributes: dict[str, Any]) -> None:
    validation.check_country("country-code", attributes["country-code"])
    attributes["country-code"] = attributes["country-code"].upper()


def _geolocation_item(attributes: dict[str, Any]) -> None:
    if not -90 <= attributes["latitude"] <= 90:
        raise invalid_attribute("latitude", "data.attributes.latitude must be between -90 and 90")
    if not -180 <= attributes["longitude"] <= 180:
        raise invalid_attribute("longitude", "data.attributes.longitude must be between -180 and 180")
    if attributes["radius-meters"] <= 0:
        raise invalid_attribute("radius-meters", "data.attributes.radius-meters must be positive")


@dataclass(frozen=True)
class ItemKind:
    """One list-item type: `list-item/<name>`, created at `/list-item/<plural>`."""

    name: str
    plural: str
    prefix: str
    values: tuple[tuple[str, type | tuple[type, ...]], ...]
    check: Check | None = None
    list_endpoint: bool = True

    @property
    def snake(self) -> str:
        return self.name.replace("-", "_")


_NUMBER = (int, float)
ITEM_KINDS: tuple[ItemKind, ...] = (
    ItemKind("browser-fingerprint", "browser-fingerprints", "libf", (("value", str),)),
    ItemKind("country", "countries", "lic", (("country-code", str),), _country_item),
    ItemKind("device-fingerprint", "device-fingerprints", "libf", (("value", str),), list_endpoint=False),
    ItemKind("email-address", "email-addresses", "liea", (("value", str),), _email_item),
    ItemKind("field", "fields", "liif", (("field-value", str),), list_endpoint=False),
    ItemKind(
        "geolocation",
        "geolocations",
        "ligl",
        (("latitude", _NUMBER), ("longitude", _NUMBER), ("radius-meters", _NUMBER)),
        _geolocation_item,
    ),
    ItemKind(
        "government-id-number", "government-id-numbers", "ligin", (("id-number", str), ("id-class", str))
    ),
    ItemKind("ip-address", "ip-addresses", "liip", (("value", str),), _ip_item),
    ItemKind("name", "names", "lin", (("name-first", str), ("name-last", str))),
    ItemKind("phone-number", "phone-numbers", "lipn", (("value", str),)),
    ItemKind("string", "strings", "lin", (("value", str),)),
)
KINDS_BY_NAME = {kind.name: kind for kind in ITEM_KINDS}


def create_list(state: SandboxState, kind: str, attributes: dict[str, Any]) -> Record:
    name = _required(attributes, "name")
    stamp = now_iso()
    return state.add(
        "lst",
        f"list/{kind}",
        {"name": name, "status": "active", "archived-at": None, "created-at": stamp, "updated-at": stamp},
        {"list-items": {"data": []}},
        **{"allow-fuzzy-name-first": bool(attributes.get("allow-fuzzy-name-first", False))},
    )


def archive(record: Record) -> Record:
    """Archive a list or list item; archiving again leaves it as it is."""
    if record.attributes["status"] != "archived":
        stamp = now_iso()
        record.attributes.update({"status": "archived", "archived-at": stamp, "updated-at": stamp})
    return record


def create_item(state: SandboxState, kind: ItemKind, attributes: dict[str, Any]) -> Record:
    """A list item on an active list of the same type; value attributes are required."""
    list_id = _required(attributes, "list-id")
    values = {name: _required(attributes, name, expected) for name, expected in kind.values}
    if kind.name == "email-address" and attributes.get("match-type") is not None:
        values["match-type"] = attributes["match-type"]
    if kind.check is not None:
        kind.check(values)
    owner = state.get(list_id, "list", type_prefix="list/")
    if owner.type != f"list/{kind.name}":
        raise invalid_attribute(
            "list-id", f"List {list_id} is a {owner.type} list, not a list/{kind.name} list"
        )
    if owner.attributes["status"] == "archived":
        raise conflict(f"List {list_id} is archived")
    stamp = now_iso()
    item = state.add(
        kind.prefix,
        f"list-item/{kind.name}",
        {
            "status": "active",
            "archived-at": None,
            "redacted-at": None,
            "created-at": stamp,
            "updated-at": stamp,
            "match-count": 0,
            **values,
        },
        {"creator": {"data": None}},
        **{"list-id": owner.id},
    )
    owner.internal.setdefault("item-ids", []).append(item.id)
    return item
