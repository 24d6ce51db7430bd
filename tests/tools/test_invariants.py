"""Rules every tool in the catalogue keeps, checked tool by tool."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from persona_mcp import tools
from persona_mcp.auth.scopes import Scope
from persona_mcp.persona.ids import PREFIXES
from persona_mcp.tools import CATALOGUE, catalogue
from persona_mcp.tools.contract import operation
from persona_mcp.tools.describe import MAX_DESCRIPTION
from persona_mcp.tools.inputs import ANY_ID_PATTERN
from persona_mcp.tools.mcp_schema import DRY_RUN, described_output_schema, input_schema, output_schema
from persona_mcp.tools.spec import Effect, ToolSpec

AnySpec = ToolSpec[Any, Any]
PERSONA_TOOLS = [spec for spec in CATALOGUE if spec.operations]
_by_name = pytest.mark.parametrize("spec", CATALOGUE, ids=lambda spec: spec.name)
_persona = pytest.mark.parametrize("spec", PERSONA_TOOLS, ids=lambda spec: spec.name)

#: Scope family of each catalogue family (sessions belong to inquiries, items to lists).
FAMILY_SCOPE = {
    "accounts": "accounts",
    "inquiries": "inquiries",
    "inquiry-sessions": "inquiries",
    "lists": "lists",
    "list-items": "lists",
    "webhooks": "webhooks",
    "events": "events",
    "reports": "reports",
    "cases": "cases",
    "verifications": "verifications",
    "documents": "documents",
    "transactions": "transactions",
    "api-logs": "logs",
    "user-audit-logs": "logs",
    "importers": "importers",
    "workflows": "workflows",
    "inquiry-templates": "templates",
    "devices": "devices",
    "rate-limits": "rate_limits",
}
#: Decisions the catalogue does not flag `decision_action` but that are one (a fraud label on a
#: transaction): they get the family's decide scope, never its write scope.
DECISIONS = {"label_transaction": Scope.TRANSACTIONS_DECIDE}
SUFFIX = {Effect.READ: "read", Effect.WRITE: "write", Effect.DESTRUCTIVE: "delete"}


def _properties(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every property schema, recursively (through $defs, arrays and nested objects)."""
    for name, sub in schema.get("properties", {}).items():
        yield f"{path}{name}", sub
        yield from _properties(sub, f"{path}{name}.")
        if isinstance(sub.get("items"), dict):
            yield from _properties(sub["items"], f"{path}{name}[].")
    for name, sub in schema.get("$defs", {}).items():
        yield from _properties(sub, f"$defs.{name}.")


def test_tool_names_are_unique_verb_noun() -> None:
    names = [spec.name for spec in CATALOGUE]
    assert len(names) == len(set(names))
    for name in names:
        assert re.fullmatch(r"^[a-z]+(_[a-z]+)+$", name), name


@_by_name
def test_annotations_follow_the_effect(spec: AnySpec) -> None:
    hints = spec.annotations
    assert hints.read_only == (spec.effect is Effect.READ)
    assert hints.destructive == (spec.effect is Effect.DESTRUCTIVE)
    reaches = bool(spec.operations or spec.polls)
    assert hints.open_world == reaches, "open world exactly when the tool reaches Persona"
    if spec.effect is Effect.READ:
        assert hints.idempotent


@_persona
def test_effect_matches_the_catalogue_and_the_scope(spec: AnySpec) -> None:
    entries = [operation(op) for op in spec.operations]
    effects = {entry["effect"] for entry in entries}
    assert effects == {spec.effect.value}, f"{spec.name} covers operations with effects {effects}"
    families = {FAMILY_SCOPE[entry["family"]] for entry in entries}
    assert len(families) == 1
    family = families.pop()
    if spec.name in DECISIONS:
        assert spec.scope is DECISIONS[spec.name]
    elif any(entry.get("decision_action") for entry in entries):
        assert spec.scope.value == f"{family}:decide"  # decisions never ride on write
    else:
        assert spec.scope.value == f"{family}:{SUFFIX[spec.effect]}"


@_by_name
def test_every_field_has_a_description(spec: AnySpec) -> None:
    for schema in (input_schema(spec), described_output_schema(spec)):
        for path, sub in _properties(schema):
            if path == DRY_RUN:
                continue  # every write tool's, explained once in the server instructions (byte budget)
            assert sub.get("description"), f"{spec.name}: {path} has no description"


@_by_name
def test_description_has_the_shape_and_fits_the_budget(spec: AnySpec) -> None:
    assert spec.title and len(spec.title) <= 60
    assert len(spec.description) <= MAX_DESCRIPTION
    first, *rest = spec.description.splitlines()
    assert first.endswith(".") and rest, spec.name
    assert "Use this when" in spec.description


@_by_name
def test_schemas_have_no_top_level_unions_and_are_objects(spec: AnySpec) -> None:
    for schema in (input_schema(spec), output_schema(spec)):
        assert schema["type"] == "object"
        assert not {"oneOf", "anyOf", "allOf"} & set(schema)
    assert input_schema(spec).get("additionalProperties") is False


@_persona
def test_page_sizes_are_bounded_and_persona_ids_carry_a_pattern(spec: AnySpec) -> None:
    for path, sub in _properties(input_schema(spec)):
        name = path.rsplit(".", 1)[-1]
        if name == "page_size":
            assert sub["minimum"] == 1 and sub["maximum"] == 100 and sub["default"] == 25
        elif name == "after":  # a cursor is an id of the kind the tool lists (factories.cursor_bound)
            assert spec.finds is not None, f"{spec.name} pages without declaring what it finds"
            assert re.fullmatch(sub["pattern"], f"{PREFIXES[spec.finds][0]}_Abc123")
            assert not re.fullmatch(sub["pattern"], "zzz_Abc123")
        elif name == "reference_id":  # the caller's own identifier, not a Persona id
            assert sub["maxLength"] <= 255
        elif name.endswith("_id"):
            assert "pattern" in sub, f"{spec.name}: {path} has no pattern"
        elif name.endswith("_ids"):
            assert "pattern" in sub["items"], f"{spec.name}: {path} items have no pattern"


def test_every_object_kind_with_a_list_tool_has_a_lister() -> None:
    listed = {spec.finds for spec in CATALOGUE if spec.finds is not None}
    for kind in listed:
        lister = catalogue.lister_for(kind)
        assert lister is not None and lister.startswith("list_")


@_persona
def test_sandbox_only_matches_the_catalogue(spec: AnySpec) -> None:
    flags = {bool(operation(op).get("sandbox_only")) for op in spec.operations}
    assert flags == {spec.sandbox_only}, f"{spec.name}: catalogue says {flags}"


def test_conflict_hints_live_on_the_specs_of_state_bound_tools() -> None:
    hinted = {spec.name for spec in CATALOGUE if spec.conflict_hint}
    assert {"resume_inquiry", "approve_inquiry", "decline_inquiry", "create_account"} <= hinted


def test_the_any_id_pattern_is_spelled_once_in_inputs() -> None:
    package = Path(tools.__file__).parent
    spelled = sorted(p.name for p in package.glob("*.py") if ANY_ID_PATTERN in p.read_text(encoding="utf-8"))
    assert spelled == ["inputs.py"]
