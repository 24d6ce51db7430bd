"""Every tool's listed `inputSchema` is exactly as strict as the input model that validates the call.

An agent builds its arguments from `tools/list`. If the schema admits a shape that validation then
refuses, the agent wastes a call on an error it could not have foreseen; if the schema refuses a shape
the server would take, a client that checks arguments before sending never lets the call through. So:

- every argument set generated from a tool's listed schema is accepted by the tool's input model (the
  schema is never looser), for every tool;
- every argument set the model accepts, generated from the schema without its cross-field rules,
  also passes the full schema (the rules are never stricter than the validators they mirror);
- a sample of generated arguments, sent through the in-memory MCP client and the whole pipeline, never
  comes back as `invalid_arguments` (the object may not exist upstream, which is a different error).

Schemas are read from `tools/list` as an MCP client sees them, not from the models.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import jsonschema
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.internal.conjecture import utils as conjecture_utils
from hypothesis_jsonschema import _from_schema as jsonschema_strategies
from hypothesis_jsonschema import from_schema
from pydantic import ValidationError

from persona_mcp.auth.scopes import Scope
from persona_mcp.server.dry_run import split_dry_run
from persona_mcp.server.errors import ERROR_META
from persona_mcp.testing import connected
from persona_mcp.tools import catalogue
from persona_mcp.tools.mcp_schema import input_schema

#: Generated argument sets per tool, model-level (57 tools) and through the whole server.
EXAMPLES_PER_TOOL = 40
END_TO_END_PER_TOOL = 2

#: The keywords that carry cross-field rules at the top of an input schema.
RULE_KEYWORDS = ("oneOf", "anyOf", "allOf", "if", "then", "else", "not", "minProperties", "maxProperties")


class _SteppedMany(conjecture_utils.many):
    """hypothesis-jsonschema 0.23 (the latest) steps through object keys with `many.more()`, which
    Hypothesis 6.15x replaced by a with-block iterator. This is the same element loop driven one step
    at a time, handed only to hypothesis-jsonschema (Hypothesis itself keeps its own `many`)."""

    def __init__(self, data: Any, **sizes: Any) -> None:
        super().__init__(data, **sizes)
        self.__enter__()
        self._steps = iter(self)

    def more(self) -> bool:
        if next(self._steps, False) is None:
            return True
        self.__exit__(None)
        return False


if not hasattr(conjecture_utils.many, "more"):
    jsonschema_strategies.cu = SimpleNamespace(many=_SteppedMany)  # type: ignore[attr-defined]

#: Tools whose arguments carry a file whose content the model checks (a CSV's header row): no JSON
#: schema can look inside base64, so their schema admits files the model then refuses, naming the field.
CONTENT_CHECKED = {"import_list_items", "import_accounts"}
TOOL_NAMES = sorted(spec.name for spec in catalogue)
SHAPE_CHECKED_NAMES = [name for name in TOOL_NAMES if name not in CONTENT_CHECKED]
#: Tools whose schema carries a cross-field rule (those whose model has one: see the test below).
RULED_TOOL_NAMES = [
    name for name in TOOL_NAMES if set(input_schema(catalogue.get(name))) & set(RULE_KEYWORDS)
]


def _examples(count: int) -> settings:
    """Reproducible runs of `count` examples: generation is derandomised and nothing is cached."""
    return settings(
        max_examples=count,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )


async def _listed_input_schemas(data_dir: Path) -> dict[str, dict[str, Any]]:
    async with connected(data_dir, list(Scope)) as h:
        return {tool.name: tool.input_schema for tool in (await h.client.list_tools()).tools}


@pytest.fixture(scope="module")
def listed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Input schemas from `tools/list`, through the SDK client, with every scope granted."""
    return anyio.run(_listed_input_schemas, tmp_path_factory.mktemp("listed"))


def _refusal(name: str, arguments: dict[str, Any]) -> str | None:
    """Why the server would refuse these arguments: a write tool's `dry_run` is taken out first, as the
    pipeline does (server/dry_run.py), and the rest validated by the tool's model."""
    spec = catalogue.get(name)
    flag, rest = split_dry_run(spec, arguments)
    if flag is None:
        return "dry_run must be a boolean"
    try:
        spec.input_model.model_validate(rest)
    except ValidationError as error:
        return str(error)
    return None


def _generable(schema: dict[str, Any]) -> dict[str, Any]:
    """The same set of arguments, spelt for hypothesis-jsonschema: `{"if": X, "else": false}` (how the
    listing keeps a union of cases off the top level) admits exactly what `X` admits, and the generator
    draws from a union directly where it would otherwise filter blindly through `if`."""
    if schema.get("else") is False and "then" not in schema:
        rest = {key: value for key, value in schema.items() if key not in ("if", "else")}
        schema = {**rest, "allOf": [schema["if"]]}
    return _case_by_case(schema)


def _case_by_case(schema: dict[str, Any]) -> dict[str, Any]:
    """`{...A, "allOf": [{"anyOf": [B1, B2, ...]}]}` as `{"anyOf": [A and B1, A and B2, ...]}`: the same
    arguments (A and (B1 or B2) is (A and B1) or (A and B2)), drawn one case at a time, with each
    property a case fixes (`const`) fixed in A's own schema for it. Drawn all at once, A's values are
    filtered through every case: for `get_list_item` (eleven list types, each with its id prefix) about
    one draw in 130 fits, and hypothesis once gave up on it in CI."""
    cases = schema.get("allOf")
    if not (isinstance(cases, list) and len(cases) == 1 and set(cases[0]) == {"anyOf"}):
        return schema
    rest = {key: value for key, value in schema.items() if key != "allOf"}
    return {"anyOf": [_with_case(rest, case) for case in cases[0]["anyOf"]]}


def _with_case(schema: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
    properties = dict(schema.get("properties", {}))
    for name, rule in case.get("properties", {}).items():
        if isinstance(rule, dict) and set(rule) == {"const"} and name in properties:
            properties[name] = {**properties[name], **rule}
    return {**schema, "properties": properties, "allOf": [case]}


def _without_rules(schema: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in schema.items() if key not in RULE_KEYWORDS}


def test_every_tool_is_listed(listed: dict[str, dict[str, Any]]) -> None:
    assert sorted(listed) == TOOL_NAMES


@pytest.mark.parametrize("name", SHAPE_CHECKED_NAMES)
def test_arguments_the_listed_schema_admits_are_never_refused_for_their_shape(
    listed: dict[str, dict[str, Any]], name: str
) -> None:
    @_examples(EXAMPLES_PER_TOOL)
    @given(from_schema(_generable(listed[name])))
    def admitted_means_accepted(arguments: dict[str, Any]) -> None:
        refusal = _refusal(name, arguments)
        assert refusal is None, f"{name} schema admits {arguments!r}, model refuses: {refusal}"

    admitted_means_accepted()


@pytest.mark.parametrize("name", RULED_TOOL_NAMES)
def test_arguments_the_model_accepts_pass_the_listed_schema_with_its_rules(
    listed: dict[str, dict[str, Any]], name: str
) -> None:
    schema = listed[name]
    checker = jsonschema.Draft202012Validator(schema)

    @_examples(EXAMPLES_PER_TOOL)
    @given(from_schema(_without_rules(schema)))
    def accepted_means_admitted(arguments: dict[str, Any]) -> None:
        if _refusal(name, arguments) is None:
            errors = [error.message for error in checker.iter_errors(arguments)]
            assert not errors, f"{name} model accepts {arguments!r}, schema refuses: {errors}"

    accepted_means_admitted()


@pytest.mark.parametrize(
    ("name", "arguments", "rule"),
    [
        # Write tools also take dry_run, so their rules are stated with if/then/else rather than by
        # counting arguments (`input_rules`): the refusal comes from the `else` branch.
        ("create_inquiry", {}, "else"),
        ("add_account_tag", {"account_id": "act_A1"}, "else"),
        ("add_inquiry_tag", {"inquiry_id": "inq_A1"}, "else"),
        ("set_account_tags", {"account_id": "act_A1"}, "else"),
        ("create_list_item", {"type": "email-address", "list_id": "lst_A1"}, "else"),
        ("update_account", {"account_id": "act_A1"}, "else"),
    ],
)
def test_the_six_reported_shapes_are_refused_by_the_schema_as_by_the_model(
    listed: dict[str, dict[str, Any]], name: str, arguments: dict[str, Any], rule: str
) -> None:
    assert _refusal(name, arguments) is not None
    errors = list(jsonschema.Draft202012Validator(listed[name]).iter_errors(arguments))
    assert errors, f"{name} lists a schema that admits {arguments}"
    # The one false schema the rules use is `else: false` (no case fitted): jsonschema gives it no path.
    assert rule in {
        error.relative_schema_path[0] if error.relative_schema_path else "else" for error in errors
    }


def _samples(schema: dict[str, Any], count: int) -> list[dict[str, Any]]:
    drawn: list[dict[str, Any]] = []

    # A larger budget than `count`: tight rules make hypothesis-jsonschema discard many draws.
    @_examples(count * 10)
    @given(from_schema(_generable(schema)))
    def draw(arguments: dict[str, Any]) -> None:
        if len(drawn) < count:
            drawn.append(arguments)

    draw()
    return drawn


async def _kinds_of_errors(data_dir: Path, calls: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str]]:
    refused: list[tuple[str, str]] = []
    async with connected(data_dir, list(Scope)) as h:
        for name, arguments in calls:
            result = await h.client.call_tool(name, arguments)
            kind = (result.meta or {}).get(ERROR_META, {}).get("kind") if result.is_error else None
            text = result.content[0].text if result.content else ""  # type: ignore[union-attr]
            # Refused for its shape means refused before anything was sent. An `invalid_arguments` that
            # Persona's answer led to names Persona's request id (a well-formed cursor after which
            # nothing follows): that is upstream state, which generated arguments cannot know.
            if kind == "invalid_arguments" and "Persona request id" not in text:
                refused.append((name, f"{arguments!r}: {text}"))
    return refused


@pytest.mark.slow
def test_generated_arguments_sent_through_the_server_are_never_invalid_arguments(
    listed: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    calls = [
        (name, arguments)
        for name in SHAPE_CHECKED_NAMES
        for arguments in _samples(listed[name], END_TO_END_PER_TOOL)
    ]
    assert len(calls) >= len(SHAPE_CHECKED_NAMES)
    assert anyio.run(_kinds_of_errors, tmp_path, calls) == []
