"""Test doubles shared by the auth tests (a module, not conftest, so tests can import them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

TOOL_NAMES = frozenset(
    {"list_accounts", "get_account", "create_account", "redact_account", "approve_inquiry"}
)


@dataclass
class RecordingSink:
    """Keeps every admin event; `fail` makes the next events raise like a broken audit log."""

    events: list[dict[str, Any]] = field(default_factory=list)
    fail: bool = False

    async def admin_event(
        self, *, action: str, actor: str, target: str, details: Mapping[str, Any] | None = None
    ) -> None:
        if self.fail:
            raise OSError("audit log unavailable")
        self.events.append(
            {"action": action, "actor": actor, "target": target, "details": dict(details or {})}
        )

    @property
    def actions(self) -> list[str]:
        return [event["action"] for event in self.events]


@dataclass
class Clock:
    """Wall-clock time the test moves by hand."""

    now: datetime = field(default_factory=lambda: datetime(2026, 3, 1, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
