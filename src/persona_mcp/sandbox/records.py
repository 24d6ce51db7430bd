"""A stored Persona object and its JSON:API rendering."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Record:
    """One object of the emulated environment.

    `attributes` and `relationships` are kept exactly as Persona would render them (kebab-case keys);
    `internal` holds sandbox bookkeeping that is never rendered (owning list, parent inquiry, ...).
    `seq` orders objects by creation; lists are newest first.
    """

    id: str
    type: str
    seq: int
    attributes: dict[str, Any]
    relationships: dict[str, Any] | None = None
    internal: dict[str, Any] = field(default_factory=dict)

    def resource(self) -> dict[str, Any]:
        """The JSON:API resource object (a deep copy, so callers may not mutate the store)."""
        rendered: dict[str, Any] = {
            "type": self.type,
            "id": self.id,
            "attributes": copy.deepcopy(self.attributes),
        }
        if self.relationships is not None:
            rendered["relationships"] = copy.deepcopy(self.relationships)
        return rendered


def ref(type_: str, object_id: str) -> dict[str, Any]:
    """A relationship linkage `{"data": {"type", "id"}}`."""
    return {"data": {"type": type_, "id": object_id}}
