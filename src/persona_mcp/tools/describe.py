"""Tool descriptions in one shape, so an agent reads every tool the same way.

Summary line; "Use this when ..."; "IDs:" the tools (or place) that give the ids it needs; "Do not
use it ..." for what it must not be used for (and what to use instead).
Building them through one function makes the shape a property of the code rather than of each author.
"""

from __future__ import annotations

MAX_DESCRIPTION = 600


def describe(summary: str, *, use_when: str, ids: str | None = None, avoid: str | None = None) -> str:
    """Compose a tool description; raises if it outgrows the length budget (the catalogue must stay small)."""
    parts = [summary.strip(), f"Use this when {use_when.strip()}"]
    if ids:
        parts.append(f"IDs: {ids.strip()}")
    if avoid:
        parts.append(f"Do not use it {avoid.strip()}")
    text = "\n".join(parts)
    if len(text) > MAX_DESCRIPTION:
        raise ValueError(f"description too long ({len(text)} > {MAX_DESCRIPTION}): {summary[:40]!r}")
    return text
