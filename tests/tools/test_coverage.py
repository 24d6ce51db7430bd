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
