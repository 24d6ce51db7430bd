"""A tool spec as the MCP `Tool` the server lists: schemas from the models, hints from the effect.

Input schemas are pydantic's validation schema of the input model (what the server will accept);
output schemas are the serialization schema of the output model (what `structured_content` holds).
Both are objects at the top level, as MCP requires. Every hint is set explicitly: an absent hint would
let a client assume the worst or, worse, the best.

Read tools declare their output schema: their results are data a client consumes. Write tools return
only a short summary of the changed object (id, type, status); it is still validated by its output
model and sent as structured content, but not declared in `tools/list`, which keeps the whole
catalogue within the 64 KB listing budget (`tests/tools/test_catalogue_size.py`).
"""

from __future__ import annotations

import re
from typing import Any

import mcp_types as types

from persona_mcp.tools.spec import ToolSpec

#: `^(?:act)_` (an id pattern with one prefix) is `^act_`.
_SINGLE_GROUP = re.compile(r"^\^\(\?:([a-z]+)\)_")


def compact(schema: Any) -> Any:
    """Pydantic's schema without noise, so the whole catalogue fits one small `tools/list` answer.

    Drops generated `title`s, `default: null` and `additionalProperties: true` (the JSON Schema
    default), and turns `anyOf [X, null]` into `X`: optional
    arguments are simply omitted, and results leave out empty values (`ResultModel` drops None when
    serialised), so null never needs to be spelled in a schema.
    """
    if isinstance(schema, list):
        return [compact(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if (
            key == "title"
            or (key == "default" and value is None)
            or (key == "additionalProperties" and value is True)
        ):
            continue
        if key in ("properties", "$defs", "patternProperties"):
            out[key] = {name: compact(sub) for name, sub in value.items()}
        else:
            out[key] = compact(value)
    pattern = out.get("pattern")
    if isinstance(pattern, str):
        out["pattern"] = _SINGLE_GROUP.sub(r"^\1_", pattern)
    variants = out.get("anyOf")
    if isinstance(variants, list) and {"type": "null"} in variants:
        rest = [v for v in variants if v != {"type": "null"}]
        del out["anyOf"]
        out = {**rest[0], **out} if len(rest) == 1 else {"anyOf": rest, **out}
    return out


def _without_model_docs(schema: Any) -> Any:
    """Drop model docstrings (`description` beside `properties`): the tool description and the field
    descriptions already say it, and the catalogue must stay small."""
    if isinstance(schema, list):
        return [_without_model_docs(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    is_model = "properties" in schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if is_model and key == "description":
            continue
        if key == "properties":
            out[key] = {name: _without_model_docs(sub) for name, sub in value.items()}
        elif key == "$defs":
            # Shared definitions (models, enums) are described where they are used.
            out[key] = {
                name: {k: v for k, v in _without_model_docs(sub).items() if k != "description"}
                for name, sub in value.items()
            }
        else:
            out[key] = _without_model_docs(value)
    return out


def _top_level(schema: dict[str, Any]) -> dict[str, Any]:
    schema = _without_model_docs(schema)
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


def to_mcp_tool(spec: ToolSpec[Any, Any], *, write_output_schemas: bool = False) -> types.Tool:
    """The MCP tool declaration of `spec`.

    `write_output_schemas=True` also declares the (small) result schema of write tools, for clients that
    validate every structured result; it costs about 14 KB of listing for the whole catalogue.
    """
    hints = spec.annotations
    return types.Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=input_schema(spec),
        output_schema=output_schema(spec) if (write_output_schemas or not spec.is_write) else None,
        annotations=types.ToolAnnotations(
            read_only_hint=hints.read_only,
            destructive_hint=hints.destructive,
            idempotent_hint=hints.idempotent,
            open_world_hint=hints.open_world,
        ),
    )
