"""Test helpers shared by the credentials tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RecordingSink:
    """An `AdminEventSink` that keeps every event, and can be told to fail like a broken audit log."""

    events: list[dict[str, Any]] = field(default_factory=list)
    broken: bool = False

    async def admin_event(
        self, *, action: str, actor: str, target: str, details: Mapping[str, Any] | None = None
    ) -> None:
        if self.broken:
            raise RuntimeError("audit log unavailable")
        self.events.append(
            {"action": action, "actor": actor, "target": target, "details": dict(details or {})}
        )

    def actions(self) -> list[str]:
        return [event["action"] for event in self.events]
