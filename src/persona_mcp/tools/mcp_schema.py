"""A tool spec as the MCP `Tool` the server lists: schemas from the models, hints from the effect.

Input schemas are pydantic's validation schema of the input model (what the server will accept);
output schemas are the serialization schema of the output model (what `structured_content` holds).
Both are objects at the top level, as MCP requires. Every hint is set explicitly: an absent hint would
let a client assume the worst or, worse, the best.
"""

from __future__ import annotations

from typing import Any

import mcp_types as types

from persona_mcp.tools.spec import ToolSpec


def compact(schema: Any) -> Any:
    """Pydantic's schema without noise: no generated `title`s or null defaults, `anyOf [X, null]` as
    `type: [x, null]`.

    Both keep the meaning (null stays allowed where it was) while the full catalogue stays small enough to
    list in one `tools/list` answer.
    """
    if isinstance(schema, list):
        return [compact(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" or (key == "default" and value is None):
            continue
        if key in ("properties", "$defs", "patternProperties"):
            out[key] = {name: compact(sub) for name, sub in value.items()}
        else:
            out[key] = compact(value)
    variants = out.get("anyOf")
    if isinstance(variants, list) and len(variants) == 2 and {"type": "null"} in variants:
        other = next(v for v in variants if v != {"type": "null"})
        if isinstance(other.get("type"), str):
            del out["anyOf"]
            out = {**other, **out, "type": [other["type"], "null"]}
    return out


def input_schema(spec: ToolSpec[Any, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = compact(spec.input_model.model_json_schema(mode="validation"))
    schema.setdefault("type", "object")
    return schema


def output_schema(spec: ToolSpec[Any, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = compact(spec.output_model.model_json_schema(mode="serialization"))
    schema.setdefault("type", "object")
    return schema


def to_mcp_tool(spec: ToolSpec[Any, Any]) -> types.Tool:
    """The MCP tool declaration of `spec`."""
    hints = spec.annotations
    return types.Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=input_schema(spec),
        output_schema=output_schema(spec),
        annotations=types.ToolAnnotations(
            read_only_hint=hints.read_only,
            destructive_hint=hints.destructive,
            idempotent_hint=hints.idempotent,
            open_world_hint=hints.open_world,
        ),
    )
