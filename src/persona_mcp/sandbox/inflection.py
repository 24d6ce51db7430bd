"""Key casing (`Key-Inflection`): responses in kebab (default), snake or camel; requests in any of them."""

from __future__ import annotations

import re
from typing import Any

INFLECTIONS = ("kebab", "snake", "camel")
_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])([A-Z])")

#: Keys whose children are user-defined names that Persona never re-cases (since API 2025-10-27).
_VERBATIM_CHILDREN = frozenset({"fields"})


def _recase(key: str, inflection: str) -> str:
    if inflection == "snake":
        return key.replace("-", "_")
    if inflection == "camel":
        head, *rest = key.split("-")
        return head + "".join(part[:1].upper() + part[1:] for part in rest)
    return key


def to_kebab(key: str) -> str:
    return _CAMEL_HUMP.sub(lambda m: "-" + m.group(1).lower(), key).replace("_", "-")


def inflect(value: Any, inflection: str, *, verbatim: bool = False) -> Any:
    """Re-case every key of a kebab-case document except the user-defined names under `fields`."""
    if inflection == "kebab":
        return value
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        for key, child in value.items():
            new_key = key if verbatim else _recase(key, inflection)
            result[new_key] = inflect(child, inflection, verbatim=key in _VERBATIM_CHILDREN and not verbatim)
        return result
    if isinstance(value, list):
        return [inflect(item, inflection) for item in value]
    return value


def kebab_keys(value: dict[str, Any]) -> dict[str, Any]:
    """Normalise one level of request keys (attributes or meta) to kebab-case; values are left alone."""
    return {to_kebab(key): child for key, child in value.items()}
