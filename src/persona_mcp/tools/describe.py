"""Tool descriptions in one shape, so an agent reads every tool the same way.

Summary line; "Use this when ..."; "IDs:" the tools (or place) that give the ids it needs; "Do not
use it ..." for what it must not be used for (and what to use instead).

A family module writes each description as the agent will read it, a literal text; `checked` holds it
to the shape and the length budget, and the family adds its own "IDs:" line to tools that take its
object's id. `describe` composes the same shape from parts, for code that builds descriptions.
"""

from __future__ import annotations

import inspect

MAX_DESCRIPTION = 600

_USE_WHEN = "Use this when "
_IDS = "IDs: "
_AVOID = "Do not use it "


class DescriptionShapeError(ValueError):
    """A description that does not read like the others, or outgrows the budget."""


def describe(summary: str, *, use_when: str, ids: str | None = None, avoid: str | None = None) -> str:
    """Compose a tool description; raises if it outgrows the length budget (the catalogue must stay small)."""
    parts = [summary.strip(), f"{_USE_WHEN}{use_when.strip()}"]
    if ids:
        parts.append(f"{_IDS}{ids.strip()}")
    if avoid:
        parts.append(f"{_AVOID}{avoid.strip()}")
    return checked("\n".join(parts))


def checked(text: str) -> str:
    """`text` (indentation of a literal removed) if it has the catalogue's shape and fits the budget."""
    cleaned = _joined(inspect.cleandoc(text))
    summary, *rest = cleaned.split("\n")
    optional = [_IDS, _AVOID]
    kinds = [next((i for i, start in enumerate(optional) if line.startswith(start)), -1) for line in rest[1:]]
    shape_ok = (
        summary.endswith(".")
        and bool(rest)
        and rest[0].startswith(_USE_WHEN)
        and -1 not in kinds
        and kinds == sorted(set(kinds))
    )
    if not shape_ok:
        shape = "summary, Use this when, [IDs:], [Do not use it]"
        raise DescriptionShapeError(f"description not of the shape {shape}: {summary[:40]!r}")
    if len(cleaned) > MAX_DESCRIPTION:
        raise DescriptionShapeError(
            f"description too long ({len(cleaned)} > {MAX_DESCRIPTION}): {summary[:40]!r}"
        )
    return cleaned


def _joined(text: str) -> str:
    """Lines that do not open a part (a literal wrapped to the line length) joined to the part before."""
    parts: list[str] = []
    for line in text.split("\n"):
        if parts and not line.startswith((_USE_WHEN, _IDS, _AVOID)):
            parts[-1] = f"{parts[-1]} {line.strip()}"
        else:
            parts.append(line.strip())
    return "\n".join(parts)


def with_ids(text: str, ids: str) -> str:
    """`text` with an "IDs:" line after its "Use this when" line, unless it has one."""
    lines = checked(text).split("\n")
    if any(line.startswith(_IDS) for line in lines):
        return "\n".join(lines)
    return checked("\n".join([*lines[:2], f"{_IDS}{ids}", *lines[2:]]))
