"""Every tier-1 Persona operation is reachable through some tool, and no tool names an unknown one."""

from __future__ import annotations

from persona_mcp.tools import catalogue
from persona_mcp.tools.contract import operations, tier1_operation_ids


def test_every_tier1_operation_is_covered_by_a_tool() -> None:
    covered = catalogue.covered_operations()
    tier1 = tier1_operation_ids()
    missing = [op for op in tier1 if op not in covered]
    persona_tools = [spec for spec in catalogue if spec.operations]
    print(f"{len(tier1)} operations -> {len(persona_tools)} tools")
    assert missing == []
    assert len(tier1) == 94


def test_no_tool_names_an_operation_the_catalogue_does_not_have() -> None:
    known = {op["id"] for op in operations()}
    unknown = sorted(op for op in catalogue.covered_operations() if op not in known)
    assert unknown == []


def test_each_operation_is_served_by_exactly_one_tool() -> None:
    shared = {op: names for op, names in catalogue.covered_operations().items() if len(names) > 1}
    assert shared == {}


#: Issue 19, point 4: the second-tier families of the catalogue that this server covers in full.
SECOND_TIER_FAMILIES = {
    "documents": 9,
    "transactions": 12,
    "api-logs": 2,
    "user-audit-logs": 2,
    "importers": 10,
    "workflows": 4,
    "inquiry-templates": 5,
    "devices": 2,
    "rate-limits": 1,
}


def test_every_operation_of_the_second_tier_families_maps_to_exactly_one_tool() -> None:
    families = {
        family: [op["id"] for op in operations() if op["family"] == family] for family in SECOND_TIER_FAMILIES
    }
    assert {family: len(ops) for family, ops in families.items()} == SECOND_TIER_FAMILIES
    covered = catalogue.covered_operations()
    operation_ids = [op for ops in families.values() for op in ops]
    assert len(operation_ids) == 47
    assert {op: covered.get(op, []) for op in operation_ids if len(covered.get(op, [])) != 1} == {}
    tools = {name for op in operation_ids for name in covered[op]}
    print(f"{len(operation_ids)} second-tier operations -> {len(tools)} tools")
    assert {catalogue.get(name).toolset for name in tools} == {
        "documents",
        "transactions",
        "logs",
        "importers",
        "workflows",
        "templates",
        "devices",
        "rate_limits",
    }
