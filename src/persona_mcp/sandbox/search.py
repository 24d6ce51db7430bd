"""The search endpoints' query language, at a useful subset: and/or/not over eq/gt/gte/lt/lte predicates.

Each family supplies how a snake_case search attribute (`reference_id`, `created_at`, ...) reads from one
of its records; unknown attributes and operators are refused rather than silently matching nothing.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from persona_mcp.sandbox.clock import parse_iso
from persona_mcp.sandbox.errors import ApiError
from persona_mcp.sandbox.records import Record

Reader = Callable[[Record], Any]
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
_TIME_ATTRIBUTES = frozenset({"created_at", "updated_at"})


def _invalid(details: str, pointer: str) -> ApiError:
    return ApiError(400, "Bad request", details, pointer=pointer)


def matcher(query: Any, readers: Mapping[str, Reader], pointer: str = "/query") -> Callable[[Record], bool]:
    """Compile a query clause into a predicate over records."""
    if query is None:
        return lambda _record: True
    if not isinstance(query, dict):
        raise _invalid("query must be an object", pointer)
    if "and" in query or "or" in query:
        key = "and" if "and" in query else "or"
        clauses = query[key]
        if not isinstance(clauses, list) or not clauses:
            raise _invalid(f"query.{key} must be a non-empty array", f"{pointer}/{key}")
        parts = [matcher(c, readers, f"{pointer}/{key}/{i}") for i, c in enumerate(clauses)]
        combine = all if key == "and" else any
        return lambda record: combine(part(record) for part in parts)
    if "not" in query:
        inner = matcher(query["not"], readers, f"{pointer}/not")
        return lambda record: not inner(record)
    return _predicate(query, readers, pointer)


def _predicate(
    query: dict[str, Any], readers: Mapping[str, Reader], pointer: str
) -> Callable[[Record], bool]:
    attribute, op_name, expected = query.get("attribute"), query.get("operator"), query.get("value")
    if not isinstance(attribute, str) or attribute not in readers:
        raise _invalid(f"attribute must be one of {', '.join(sorted(readers))}", f"{pointer}/attribute")
    if op_name not in _OPERATORS:
        raise _invalid("operator must be one of eq, gt, gte, lt, lte", f"{pointer}/operator")
    read, compare = readers[attribute], _OPERATORS[op_name]
    if attribute in _TIME_ATTRIBUTES:
        moment = parse_iso(str(expected))
        if moment is None:
            raise _invalid(f"{attribute} needs an ISO 8601 timestamp", f"{pointer}/value")

        def on_time(record: Record) -> bool:
            actual = parse_iso(str(read(record)))
            return actual is not None and compare(actual, moment)

        return on_time

    def on_value(record: Record) -> bool:
        actual = read(record)
        try:
            return actual is not None and bool(compare(actual, expected))
        except TypeError:
            return False

    return on_value


def sorter(sort: Any, readers: Mapping[str, Reader]) -> Callable[[list[Record]], list[Record]]:
    """Order results by `sort.attribute` (default: creation order) and `sort.direction` (default desc)."""
    if sort is None:
        return lambda records: records
    if not isinstance(sort, dict) or sort.get("attribute") not in readers:
        raise _invalid(f"sort.attribute must be one of {', '.join(sorted(readers))}", "/sort/attribute")
    direction = sort.get("direction", "desc")
    if direction not in ("asc", "desc"):
        raise _invalid("sort.direction must be asc or desc", "/sort/direction")
    read = readers[sort["attribute"]]
    return lambda records: sorted(
        records, key=lambda r: (read(r) is None, str(read(r))), reverse=direction == "desc"
    )
