"""The pinned Persona contract as test data: tier-1 catalogue, documented examples, OpenAPI schemas."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

import persona_mcp

CONTRACT = Path(persona_mcp.__file__).parent / "contract"
SPEC_FILE = CONTRACT / "openapi" / "persona-openapi-2025-12-08.yaml"
_SPEC_URI = "urn:persona-openapi"


def _load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=yaml.CSafeLoader)


@cache
def tier1() -> dict[str, dict[str, Any]]:
    """Tier-1 operations by catalogue id, in catalogue order."""
    catalog = _load_yaml(CONTRACT / "catalog.yaml")
    return {op["id"]: op for op in catalog["operations"] if op["tier"] == 1}


def example(op_id: str) -> dict[str, Any] | None:
    relative = tier1()[op_id].get("example")
    if not relative:
        return None
    document: dict[str, Any] = json.loads((CONTRACT / relative).read_text(encoding="utf-8"))
    return document


@cache
def spec() -> dict[str, Any]:
    """The 2.3 MB OpenAPI document, parsed once per test session."""
    document: dict[str, Any] = _load_yaml(SPEC_FILE)
    return document


def _absolute_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                _SPEC_URI + value
                if key == "$ref" and isinstance(value, str) and value.startswith("#")
                else _absolute_refs(value)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_absolute_refs(item) for item in node]
    return node


@cache
def _registry() -> Registry:
    return Registry().with_resource(
        _SPEC_URI, Resource.from_contents(spec(), default_specification=DRAFT202012)
    )


def _nullable_to_types(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` as JSON Schema (the pinned 3.1 spec uses type lists, but be safe)."""
    if isinstance(node, dict):
        converted = {k: _nullable_to_types(v) for k, v in node.items() if k != "nullable"}
        if node.get("nullable") is True and isinstance(node.get("type"), str):
            converted["type"] = [node["type"], "null"]
        return converted
    if isinstance(node, list):
        return [_nullable_to_types(item) for item in node]
    return node


def response_schema(method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """(content type, schema) of the success response the spec declares for an operation, or None."""
    operation = spec()["paths"].get(path, {}).get(method.lower())
    if operation is None:
        return None
    for status in ("200", "201", "202"):
        response = operation["responses"].get(status)
        if response is None:
            continue
        if "$ref" in response:
            response = spec()["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
        for content_type, content in response.get("content", {}).items():
            return content_type, content.get("schema", {})
    return None


def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(_absolute_refs(_nullable_to_types(schema)), registry=_registry())
