"""Where grant and credential changes are reported. The audit component implements this.

`auth` must not import `audit` and `audit` must not import `auth` (both sit on `store`), so the
protocol lives here, below both: the CLI and the server hand an `AdminEventSink` (the audit log) to the
grant and credential stores, and the audit log satisfies it without knowing who calls it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class AdminEventSink(Protocol):
    async def admin_event(
        self, *, action: str, actor: str, target: str, details: Mapping[str, Any] | None = None
    ) -> None:
        """Record an administrative change durably (e.g. action="grant.created", target=grant id).

        `details` never carries a secret or a token. Raising means the change must be treated as
        unaudited by the caller (and refused where it can still be refused).
        """
        ...


class DiscardEvents:
    """For tests of a store in isolation only; the server and CLI always pass the audit log."""

    async def admin_event(
        self, *, action: str, actor: str, target: str, details: Mapping[str, Any] | None = None
    ) -> None:
        return None
