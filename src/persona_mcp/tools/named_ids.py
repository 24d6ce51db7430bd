"""The Persona object ids a call's arguments name, for the audit record's `object_ids`.

Object ids are not personal data, and they are how a reviewer finds every call aimed at one object
(`audit query --object act_...`), denied and invalid calls included. Validated arguments name ids only in
the fields their model declares as ids (`persona_mcp.pii.OBJECT_ID`); arguments that were not validated
name every value that is a well-formed Persona id (a known prefix, see `persona.ids.is_object_id`),
wherever it sits, because no model vouches for where it sits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from persona_mcp.persona.ids import is_object_id
from persona_mcp.pii import Entries, Handling, Items, Leaf, Nested, Node, argument_plan


def named_object_ids(
    input_model: type[BaseModel] | None, arguments: Mapping[str, Any], *, validated: bool
) -> list[str]:
    """The ids in `arguments`, in order of appearance, each once."""
    found: list[str] = []
    if input_model is not None and validated:
        _declared(Nested(input_model), arguments, found)
    else:
        _shaped(arguments, found)
    return list(dict.fromkeys(found))


def _declared(node: Node, value: Any, found: list[str]) -> None:
    if value is None:
        return
    if isinstance(node, Leaf):
        if node.handling is Handling.OBJECT_ID:
            items = value if isinstance(value, list | tuple) else [value]
            found.extend(item for item in items if isinstance(item, str))
    elif isinstance(node, Nested) and isinstance(value, Mapping):
        plan = argument_plan(node.model)
        for key, item in value.items():
            if key in plan:
                _declared(plan[key], item, found)
    elif isinstance(node, Items) and isinstance(value, list | tuple):
        for item in value:
            _declared(node.item, item, found)
    elif isinstance(node, Entries) and isinstance(value, Mapping):
        for item in value.values():
            _declared(node.value, item, found)


def _shaped(value: Any, found: list[str]) -> None:
    if isinstance(value, Mapping):
        for item in value.values():
            _shaped(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _shaped(item, found)
    elif isinstance(value, str) and is_object_id(value):
        found.append(value)


__all__ = ["named_object_ids"]
