"""The documented answers of Persona's second-tier families, as templates for sandbox objects.

`examples/tier2.json` is a copy of the first success example the pinned OpenAPI document gives for
each operation of those families (a test checks the copy against the spec). A sandbox object of such a
type starts as the example's resource with its own id and the values the request gave, so every answer
carries exactly the documented keys and value types, and the state behind it (tags, labels, redaction,
runs, imports) changes as requests change it.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib.resources import files
from typing import Any

from persona_mcp.sandbox.records import Record
from persona_mcp.sandbox.store import SandboxState


@cache
def _examples() -> dict[str, Any]:
    text = files("persona_mcp.sandbox").joinpath("examples/tier2.json").read_text(encoding="utf-8")
    examples: dict[str, Any] = json.loads(text)["examples"]
    return examples


def example_document(operation_id: str) -> dict[str, Any]:
    """The documented answer of one operation (a deep copy)."""
    return copy.deepcopy(_examples()[operation_id])


def example_resource(operation_id: str, type_: str | None = None) -> dict[str, Any]:
    """The first resource of an operation's documented answer (of `type_`, when one of that type is there:
    polymorphic families document one subtype for all)."""
    data = example_document(operation_id)["data"]
    resources = data if isinstance(data, list) else [data]
    resource: dict[str, Any] = next((r for r in resources if r.get("type") == type_), resources[0])
    return resource


def add_shaped(
    state: SandboxState,
    operation_id: str,
    prefix: str,
    *,
    type_: str | None = None,
    attributes: dict[str, Any] | None = None,
    relationships: dict[str, Any] | None = None,
    object_id: str | None = None,
    internal: dict[str, Any] | None = None,
) -> Record:
    """A new object shaped like the documented resource, with `attributes`/`relationships` laid over it."""
    resource = example_resource(operation_id, type_)
    merged = {**resource.get("attributes", {}), **(attributes or {})}
    related = resource.get("relationships")
    if related is not None or relationships:
        related = {**(related or {}), **(relationships or {})}
    object_id = object_id if object_id is not None else state.ids.new(prefix)
    return state.add_with_id(object_id, type_ or resource["type"], merged, related, internal)
