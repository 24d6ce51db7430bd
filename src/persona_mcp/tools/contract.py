"""The pinned upstream catalogue (`contract/catalog.yaml`), read through importlib.resources.

The tools declare which catalogue operations they cover; this module gives the other side, so docs,
the CLI and the coverage test count against the same list.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import yaml


@cache
def operations() -> tuple[dict[str, Any], ...]:
    """Every catalogued operation (all tiers), in catalogue order."""
    text = files("persona_mcp.contract").joinpath("catalog.yaml").read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return tuple(loaded["operations"])


def tier1_operation_ids() -> list[str]:
    return [op["id"] for op in operations() if op.get("tier") == 1]


def operation(operation_id: str) -> dict[str, Any]:
    """One operation by id; KeyError when the catalogue has no such id."""
    for op in operations():
        if op["id"] == operation_id:
            return op
    raise KeyError(operation_id)
