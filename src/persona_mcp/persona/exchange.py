"""The record of one logical request, handed to the audit hook and attached to errors."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Exchange:
    """What the audit log records about one logical request (never headers, query strings or bodies).

    `path` is the concrete request path (IDs included, no query string); `status` and `request_id` are those
    of the last attempt (None when no response arrived); `attempts` counts every send, 0 when the client
    refused the call before sending. `maybe_applied` is True when any attempt may have been carried out
    by Persona (always on success; on failure, see `persona.attempts`), whatever the last status says.
    """

    method: str
    path: str
    status: int | None
    request_id: str | None
    attempts: int
    idempotency_key: str | None
    elapsed_ms: float
    maybe_applied: bool = False
