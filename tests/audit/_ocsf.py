"""A validator of OCSF events against the schema source files vendored in `ocsf/schema` (see SOURCE.md).

It compiles what the OCSF server compiles, for the one class and the objects our export uses: a class
with its `extends` chain and its `$include`s, objects with theirs, attribute types and enums from the
dictionary, class-level enums merged over the dictionary's. Profiles are not compiled: their attributes
apply only to events that declare the profile in `metadata.profiles`, and ours declare none.

An event is valid when: every attribute it carries is defined for its class or object (anything else
belongs in `unmapped`); every required attribute is present; no attribute is null; each value has its
type (strings within `max_len`, integers that are not booleans, arrays where `is_array`); every enum
value is one the schema lists, and a sibling name such as `activity_name` is its caption; objects meet
their `at_least_one` / `just_one` constraints; the class and type ids are the ones the schema derives.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA = Path(__file__).parent / "ocsf" / "schema"

_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string_t": (str,),
    "integer_t": (int,),
    "long_t": (int,),
    "float_t": (float, int),
    "boolean_t": (bool,),
}


def _load(relative: str) -> dict[str, Any]:
    path = SCHEMA / relative
    if not path.exists():
        raise AssertionError(f"{relative} is not vendored under {SCHEMA}: add it (see SOURCE.md)")
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


@cache
def _dictionary() -> dict[str, Any]:
    return _load("dictionary.json")


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """An attribute entry refined by a more specific one; enums are joined, other keys replaced."""
    merged = {**base, **override}
    if "enum" in base and "enum" in override:
        merged["enum"] = {**base["enum"], **override["enum"]}
    return merged


def _attributes_of(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A class's or object's own attributes, its non-profile `$include`s merged first."""
    attributes: dict[str, dict[str, Any]] = {}
    for include in document.get("attributes", {}).get("$include", []):
        if include.startswith("profiles/"):
            continue
        for name, entry in _load(include)["attributes"].items():
            attributes[name] = _merge(attributes.get(name, {}), entry)
    for name, entry in document.get("attributes", {}).items():
        if name != "$include":
            attributes[name] = _merge(attributes.get(name, {}), entry)
    return attributes


def _compiled(chain: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Attributes along an `extends` chain (root first), each refined over the dictionary's entry."""
    attributes: dict[str, dict[str, Any]] = {}
    for document in chain:
        for name, entry in _attributes_of(document).items():
            if entry.get("profile") is not None and name not in attributes:
                continue  # brought in by a profile this event does not declare
            attributes[name] = _merge(attributes.get(name, {}), entry)
    dictionary = _dictionary()["attributes"]
    return {name: _merge(dictionary[name], entry) for name, entry in attributes.items()}


@cache
def _object(name: str) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """An object's compiled attributes and its constraints (the most specific definition wins)."""
    chain: list[dict[str, Any]] = []
    current: str | None = name
    while current is not None and current != "object":
        document = _load(f"objects/{current}.json")
        chain.insert(0, document)
        current = document.get("extends")
    constraints: dict[str, list[str]] = {}
    for document in chain:
        constraints = document.get("constraints", constraints)
    return _compiled(chain), constraints


@cache
def _class(path: str) -> tuple[dict[str, Any], str, dict[str, dict[str, Any]]]:
    """A class document (by its file under events/), its category and its compiled attributes."""
    folder = path.split("/")[0]
    document = _load(f"events/{path}")
    chain = [document]
    while (parent := chain[0].get("extends")) is not None:
        chain.insert(
            0, _load("events/base_event.json" if parent == "base_event" else f"events/{folder}/{parent}.json")
        )
    category_name = [d["category"] for d in chain if "category" in d][-1]
    attributes = _compiled(chain)
    # As the OCSF compiler does: a class's own uid and its category's replace the base event's enums.
    category = _load("categories.json")["attributes"][category_name]
    class_uid = category["uid"] * 1000 + document["uid"]
    attributes["category_uid"] = attributes["category_uid"] | {
        "enum": {str(category["uid"]): {"caption": category["caption"]}}
    }
    attributes["class_uid"] = attributes["class_uid"] | {
        "enum": {str(class_uid): {"caption": document["caption"]}}
    }
    return document, category_name, attributes


def _base_type(type_name: str) -> str:
    types = _dictionary()["types"]["attributes"]
    while type_name in types and "type" in types[type_name]:
        type_name = types[type_name]["type"]
    return type_name


def _check_value(where: str, name: str, entry: dict[str, Any], value: Any, problems: list[str]) -> None:
    if value is None:
        problems.append(f"{where}.{name}: null (leave the attribute out instead)")
        return
    if entry.get("is_array"):
        if not isinstance(value, list):
            problems.append(f"{where}.{name}: must be an array")
            return
        for index, item in enumerate(value):
            _check_single(f"{where}.{name}[{index}]", entry, item, problems)
        return
    _check_single(f"{where}.{name}", entry, value, problems)


def _check_single(where: str, entry: dict[str, Any], value: Any, problems: list[str]) -> None:
    declared = entry["type"]
    if declared == "object":
        if not isinstance(value, dict):
            problems.append(f"{where}: must be an object")
        return
    if not declared.endswith("_t"):
        if not isinstance(value, dict):
            problems.append(f"{where}: must be a {declared} object")
            return
        _check_object(where, declared, value, problems)
        return
    base = _base_type(declared)
    if base == "json_t":
        return
    allowed = _PYTHON_TYPES[base]
    if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
        problems.append(f"{where}: {value!r} is not a {declared}")
        return
    type_info = _dictionary()["types"]["attributes"].get(declared, {})
    max_len = type_info.get("max_len") or _dictionary()["types"]["attributes"].get(base, {}).get("max_len")
    if isinstance(value, str) and max_len is not None and len(value) > max_len:
        problems.append(f"{where}: longer than {max_len}")
    if "enum" in entry and str(value) not in entry["enum"]:
        problems.append(f"{where}: {value!r} is not one of {sorted(entry['enum'])}")


def _check_attributes(
    where: str, attributes: dict[str, dict[str, Any]], value: dict[str, Any], problems: list[str]
) -> None:
    for name, item in value.items():
        if name not in attributes:
            problems.append(f"{where}.{name}: not an attribute of {where} (put it under unmapped)")
            continue
        _check_value(where, name, attributes[name], item, problems)
    for name, entry in attributes.items():
        if entry.get("requirement") == "required" and name not in value:
            problems.append(f"{where}.{name}: required")
    for name, entry in attributes.items():
        sibling = entry.get("sibling")
        if sibling and name in value and sibling in value and "enum" in entry:
            caption = entry["enum"].get(str(value[name]), {}).get("caption")
            if value[name] != 99 and caption is not None and value[sibling] != caption:
                problems.append(f"{where}.{sibling}: {value[sibling]!r} should be {caption!r}")


def _check_object(where: str, name: str, value: dict[str, Any], problems: list[str]) -> None:
    attributes, constraints = _object(name)
    _check_attributes(where, attributes, value, problems)
    at_least_one = constraints.get("at_least_one")
    if at_least_one and not any(key in value for key in at_least_one):
        problems.append(f"{where}: needs at least one of {at_least_one}")
    just_one = constraints.get("just_one")
    if just_one and sum(key in value for key in just_one) != 1:
        problems.append(f"{where}: needs exactly one of {just_one}")


def ocsf_problems(event: dict[str, Any], class_file: str = "application/api.json") -> list[str]:
    """Everything that makes `event` invalid for the class in `events/<class_file>`; empty when valid."""
    document, category_name, attributes = _class(class_file)
    problems: list[str] = []
    _check_attributes("event", attributes, event, problems)
    category = _load("categories.json")["attributes"][category_name]
    class_uid = category["uid"] * 1000 + document["uid"]
    expected = {"category_uid": category["uid"], "class_uid": class_uid}
    for key, want in expected.items():
        if event.get(key) != want:
            problems.append(f"event.{key}: {event.get(key)!r} should be {want}")
    if event.get("category_name", category["caption"]) != category["caption"]:
        problems.append(f"event.category_name should be {category['caption']!r}")
    if event.get("class_name", document["caption"]) != document["caption"]:
        problems.append(f"event.class_name should be {document['caption']!r}")
    activity = event.get("activity_id")
    if isinstance(activity, int):
        if event.get("type_uid") != class_uid * 100 + activity:
            problems.append(f"event.type_uid should be {class_uid * 100 + activity}")
        caption = attributes["activity_id"]["enum"].get(str(activity), {}).get("caption")
        if "type_name" in event and caption and event["type_name"] != f"{document['caption']}: {caption}":
            problems.append(f"event.type_name should be {document['caption']}: {caption}")
    if "profiles" in event.get("metadata", {}):
        problems.append("event.metadata.profiles: profiles are not compiled by this validator")
    if event.get("metadata", {}).get("version") != _load("version.json")["version"]:
        problems.append("event.metadata.version: not the vendored schema's version")
    return problems
