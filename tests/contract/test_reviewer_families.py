"""The reviewer families (reports, cases, verifications: 48 operations of Persona's catalogue) against
the pinned contract: (a) every operation answers a valid request with a body the OpenAPI response schema
accepts, and (b) every answer with a documented example in the OpenAPI document has that example's shape.

The four database-business operations are hidden endpoints, absent from the public spec's paths: their
answers are checked against the spec's `verification-database-business` component schema instead.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import pytest

from persona_mcp.tools.contract import operations

from . import _contract, _shape
from ._reviewer_scenarios import REVIEWER_SCENARIOS
from ._scenarios import Ctx

pytestmark = pytest.mark.anyio

FAMILIES = ("reports", "cases", "verifications")
OPERATIONS = {op["id"]: op for op in operations() if op["family"] in FAMILIES}
_HIDDEN_SCHEMA = {
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"$ref": "#/components/schemas/verification-database-business"}},
}


def _resolve(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = _contract.spec()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


#: Slips in Persona's examples: template relationships typed for another verification kind (copy and paste).
_ERRATA = {
    "verifications.retrieve_database_phone_carrier": "database-phone-carrier",
    "verifications.retrieve_phone_number": "phone-number",
}


@cache
def documented_example(op_id: str) -> dict[str, Any] | None:
    """The success example the OpenAPI document gives for an operation (its first one), if any."""
    operation = OPERATIONS[op_id]
    declared = _contract.spec()["paths"].get(operation["path"], {}).get(operation["method"].lower())
    if declared is None:
        return None
    for status in ("200", "201"):
        response = _resolve(declared["responses"].get(status))
        for content in (response or {}).get("content", {}).values():
            for example in (content.get("examples") or {}).values():
                value: dict[str, Any] = copy.deepcopy(_resolve(example)["value"])
                if op_id in _ERRATA:
                    for name in ("verification-template", "verification-template-version"):
                        linkage = value["data"]["relationships"][name]["data"]
                        linkage["type"] = f"{name}/{_ERRATA[op_id]}"
                return value
    return None


def _known_keys() -> dict[tuple[str, str], set[str]]:
    """Keys the examples show per resource type, plus the attributes every report shares by the spec's
    `report-shared-attributes` (the examples predate `is-recurring`)."""
    known = _shape.documented_keys([e for i in DOCUMENTED if (e := documented_example(i)) is not None])
    shared = set(_contract.spec()["components"]["schemas"]["report-shared-attributes"]["properties"])
    for type_, path in list(known):
        if type_.startswith("report/") and path == ".attributes":
            known[(type_, path)] |= shared
    return known


DOCUMENTED = [op_id for op_id in OPERATIONS if documented_example(op_id) is not None]


def test_every_operation_of_the_three_families_has_a_scenario() -> None:
    counts = {family: sum(op["family"] == family for op in OPERATIONS.values()) for family in FAMILIES}
    assert counts == {"reports": 13, "cases": 13, "verifications": 22}
    assert set(REVIEWER_SCENARIOS) == set(OPERATIONS)


def test_the_documented_examples_are_all_compared() -> None:
    # Every operation but the two PDFs and the four hidden database-business ones has an example.
    assert len(DOCUMENTED) == 48 - 2 - 4


@pytest.mark.parametrize("op_id", list(OPERATIONS))
async def test_the_answer_matches_the_openapi_response_schema(ctx: Ctx, op_id: str) -> None:
    operation = OPERATIONS[op_id]
    response = await REVIEWER_SCENARIOS[op_id](ctx)

    assert response.status_code in operation["response"]["status"], response.text
    declared = _contract.response_schema(operation["method"], operation["path"])
    content_type, schema = declared if declared is not None else ("application/json", _HIDDEN_SCHEMA)
    assert declared is not None or "not in public spec" in operation["spec_status"]
    assert response.headers["content-type"].split(";")[0] == content_type
    if content_type == "application/pdf":
        assert response.content.startswith(b"%PDF-") and response.content.rstrip().endswith(b"%%EOF")
        return
    errors = sorted(
        _contract.validator(schema).iter_errors(response.json()), key=lambda e: list(e.absolute_path)
    )
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message[:300]}" for e in errors[:5])


@pytest.mark.parametrize("op_id", DOCUMENTED)
async def test_the_answer_has_the_documented_shape(ctx: Ctx, op_id: str) -> None:
    example = documented_example(op_id)
    assert example is not None
    response = await REVIEWER_SCENARIOS[op_id](ctx)
    assert response.is_success, response.text
    known = _known_keys()

    problems = _shape.differences(example, response.json(), known)

    assert not problems, "\n".join(problems[:10])
