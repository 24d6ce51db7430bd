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
    """Pydantic's schema without noise, so the whole catalogue fits one small `tools/list` answer.

    Drops generated `title`s and `default: null`, and turns `anyOf [X, null]` into `X`: optional
    arguments are simply omitted, and results leave out empty values (`ResultModel` drops None when
    serialised), so null never needs to be spelled in a schema.
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
    if isinstance(variants, list) and {"type": "null"} in variants:
        rest = [v for v in variants if v != {"type": "null"}]
        del out["anyOf"]
        out = {**rest[0], **out} if len(rest) == 1 else {"anyOf": rest, **out}
    return out


def _top_level(schema: dict[str, Any]) -> dict[str, Any]:
    # The tool's description already says what the arguments and result are; the model docstring
    # would only repeat it.
    schema.pop("description", None)
    schema.setdefault("type", "object")
    return schema


def input_schema(spec: ToolSpec[Any, Any]) -> dict[str, Any]:
    return _top_level(compact(spec.input_model.model_json_schema(mode="validation")))


def _open(schema: Any) -> Any:
    """Results are produced by this server, never sent to it: `additionalProperties: false` tells a
    client nothing it can act on, so output schemas leave it out."""
    if isinstance(schema, list):
        return [_open(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {k: _open(v) for k, v in schema.items() if not (k == "additionalProperties" and v is False)}


def output_schema(spec: ToolSpec[Any, Any]) -> dict[str, Any]:
    return _top_level(_open(compact(spec.output_model.model_json_schema(mode="serialization"))))


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
