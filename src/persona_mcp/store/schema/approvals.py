"""Tables of issue 13: approvals held for a person's sign-off, per-tool call windows, circuit breakers.

`approvals` holds one row per call held for approval. It binds the principal, grant, tool, environment
and a keyed digest of the exact validated arguments (`digest`, never the arguments themselves); the
arguments are kept only sealed with the credential key (`args_sealed`, AES-GCM bound to the approval id),
so an approver holding `pii:read` can read them and nobody else can. A row moves
pending -> approved | rejected | expired, and approved -> used | expired, each by one guarded UPDATE
(`WHERE state = ...`), which is what makes a use single and atomic on SQLite and on PostgreSQL.

`tool_call_windows` counts calls per grant, per counter (a tool name, or the breaker's counter) and per
fixed window, by an atomic upsert-increment; `circuit_breakers` has a row per grant whose breaker tripped.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Index, Integer, LargeBinary, String, Table, Text

from persona_mcp.store.metadata import metadata
from persona_mcp.store.schema.types import UtcDateTime

APPROVAL_STATES = ("pending", "approved", "rejected", "used", "expired")

approvals = Table(
    "approvals",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("principal", String(200), nullable=False),
    Column("grant_id", String(40), nullable=False),
    Column("environment", String(16), nullable=False),
    Column("tool", String(64), nullable=False),
    Column("digest", String(96), nullable=False),
    Column("state", String(16), nullable=False),
    Column("requirement", Text, nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("request_call_id", String(64), nullable=False),
    Column("decided_at", UtcDateTime, nullable=True),
    Column("decided_by", String(200), nullable=True),
    Column("reason", Text, nullable=True),
    Column("used_at", UtcDateTime, nullable=True),
    Column("used_call_id", String(64), nullable=True),
    Column("args_key_id", String(32), nullable=False),
    Column("args_sealed", LargeBinary, nullable=False),
    CheckConstraint("state IN ('pending', 'approved', 'rejected', 'used', 'expired')", name="approval_state"),
    Index("ix_approvals_digest", "digest", "state"),
    Index("ix_approvals_state", "state", "requested_at"),
)

tool_call_windows = Table(
    "tool_call_windows",
    metadata,
    Column("grant_id", String(40), primary_key=True),
    Column("counter", String(80), primary_key=True),
    Column("window_start", Integer, primary_key=True),
    Column("calls", Integer, nullable=False),
)

circuit_breakers = Table(
    "circuit_breakers",
    metadata,
    Column("grant_id", String(40), primary_key=True),
    Column("tripped_at", UtcDateTime, nullable=False),
    Column("calls", Integer, nullable=False),
    Column("threshold", Integer, nullable=False),
)

__all__ = ["APPROVAL_STATES", "approvals", "circuit_breakers", "metadata", "tool_call_windows"]
