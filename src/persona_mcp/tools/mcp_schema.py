"""A tool spec as the MCP `Tool` the server lists: schemas from the models, hints from the effect.

Input schemas are pydantic's validation schema of the input model (what the server will accept);
output schemas are the serialization schema of the output model (what `structured_content` holds).
Both are objects at the top level, as MCP requires. A hint is listed when it differs from the value the
MCP specification gives an absent one, which is always the cautious value (not read-only, destructive,
not idempotent, open world): leaving one out can only make a client more careful, never less. A
read-only tool lists `readOnlyHint` alone, since the specification gives the destructive and idempotent
hints meaning only when a tool is not read-only.

Every tool declares its output schema. Output schemas are listed without per-field descriptions:
they describe what this server produces, for clients that validate results, while the model chooses
tools by their descriptions and input schemas (which keep every field description). The field
descriptions of results stay on the output models and in docs/tools.md. That keeps the whole
catalogue within the 64 KB listing budget (`tests/tools/test_catalogue_size.py`), as does listing
each output without `request_id`: every result may carry Persona's request id (open schemas admit it),
and repeating it in 57 schemas tells a client nothing.

Definitions are inlined where they are used: several clients do not resolve `$ref`, and a definition used
once costs more bytes as a reference. Cross-field rules (`tools/input_rules.py`) arrive in the input
schema from the model itself, so the schema is exactly as strict as validation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import mcp_types as types

from persona_mcp.tools.inputs import schema_with_arguments
from persona_mcp.tools.spec import Annotations, ToolSpec

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


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with every `$ref` to its `$defs` replaced by the definition (tool models are not
    recursive; a cycle is a programming error and raises)."""
    definitions = schema.get("$defs", {})

    def resolve(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [resolve(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        out = {key: resolve(value, seen) for key, value in node.items() if key not in ("$ref", "$defs")}
        reference = node.get("$ref")
        if isinstance(reference, str):
            name = reference.removeprefix("#/$defs/")
            if name in seen:
                raise TypeError(f"recursive model {name} cannot be inlined")
            out = {**resolve(definitions[name], (*seen, name)), **out}
        return out

    inlined: dict[str, Any] = resolve(schema, ())
    return inlined


#: The keyword that already shows a listed output value's type (objects by `properties`, arrays by `items`).
_IMPLIED_TYPE = {"object": "properties", "array": "items"}


def _nested_objects_untyped(schema: Any, *, top: bool = True) -> Any:
    """Output objects and arrays below the top level keep `properties` or `items` and drop `type` and
    `required`: results are produced here and always have that shape, so those keywords only cost bytes
    (the top-level object keeps both, and docs/tools.md describes every field)."""
    if isinstance(schema, list):
        return [_nested_objects_untyped(item, top=False) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "$defs", "patternProperties"):
            out[key] = {name: _nested_objects_untyped(sub, top=False) for name, sub in value.items()}
        else:
            out[key] = _nested_objects_untyped(value, top=False)
    implied = _IMPLIED_TYPE.get(out["type"]) if isinstance(out.get("type"), str) else None
    if not top and implied in out:
        del out["type"]
        out.pop("required", None)
    return out


def _top_level(schema: dict[str, Any]) -> dict[str, Any]:
    schema = _inlined(_without_model_docs(schema))
    schema.setdefault("type", "object")
    return schema


#: The argument every write tool takes to answer with the request it would send instead of sending it
#: (`server/dry_run.py`). Listed without a description: the server instructions explain it once.
DRY_RUN = "dry_run"


def input_schema(spec: ToolSpec[Any, Any]) -> dict[str, Any]:
    if not spec.is_write:
        return _top_level(compact(spec.input_model.model_json_schema(mode="validation")))
    return _top_level(compact(schema_with_arguments(spec.input_model, {DRY_RUN: {"type": "boolean"}})))


def _open(schema: Any) -> Any:
    """Results are produced by this server, never sent to it: `additionalProperties: false` tells a
    client nothing it can act on, so output schemas leave it out."""
    if isinstance(schema, list):
        return [_open(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {k: _open(v) for k, v in schema.items() if not (k == "additionalProperties" and v is False)}


def _undescribed(schema: Any) -> Any:
    """The schema without `description` and `default` keywords (only for listed output schemas:
    a default says what the server assumes when an argument is absent, which a result never is)."""
    if isinstance(schema, list):
        return [_undescribed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "default" or (key == "description" and isinstance(value, str)):
            continue
        if key in ("properties", "$defs", "patternProperties"):
            out[key] = {name: _undescribed(sub) for name, sub in value.items()}
        else:
            out[key] = _undescribed(value)
    return out


def described_output_schema(spec: ToolSpec[Any, Any]) -> dict[str, Any]:
    """The result schema with every field description (docs and invariant tests read this one)."""
    return _top_level(_open(compact(spec.output_model.model_json_schema(mode="serialization"))))


def output_schema(spec: ToolSpec[Any, Any]) -> dict[str, Any]:
    """The result schema as listed: the described schema without descriptions and defaults."""
    listed: dict[str, Any] = _nested_objects_untyped(_undescribed(described_output_schema(spec)))
    listed["properties"].pop("request_id", None)
    return listed


def listed_annotations(hints: Annotations) -> types.ToolAnnotations:
    """The hints a client cannot infer from the specification's defaults for absent ones."""
    closed_world = False if not hints.open_world else None
    if hints.read_only:
        return types.ToolAnnotations(read_only_hint=True, open_world_hint=closed_world)
    return types.ToolAnnotations(
        destructive_hint=False if not hints.destructive else None,
        idempotent_hint=True if hints.idempotent else None,
        open_world_hint=closed_world,
    )


def to_mcp_tool(spec: ToolSpec[Any, Any]) -> types.Tool:
    """The MCP tool declaration of `spec`."""
    return types.Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=input_schema(spec),
        output_schema=output_schema(spec),
        annotations=listed_annotations(spec.annotations),
    )


class ListedTools:
    """The MCP declarations of the exposed tools, each built the first time it is listed or looked up.

    Building one means generating its input and output JSON schemas from its models (which the server
    has built while opening): ~60 ms for the default catalogue, which a server starting up need not
    spend before it answers `initialize` (issue 18's cold start), and which a caller whose grant names a
    few tools never spends on the others.
    """

    def __init__(self, specs: Iterable[ToolSpec[Any, Any]]) -> None:
        self._specs = {spec.name: spec for spec in specs}
        self._built: dict[str, types.Tool] = {}

    def get(self, name: str) -> types.Tool | None:
        """The declaration of exposed tool `name`, or None if no such tool is exposed."""
        tool = self._built.get(name)
        if tool is None:
            spec = self._specs.get(name)
            if spec is None:
                return None
            tool = self._built[name] = to_mcp_tool(spec)
        return tool

    def __getitem__(self, name: str) -> types.Tool:
        tool = self.get(name)
        if tool is None:
            raise KeyError(name)
        return tool
