"""The `grants` table: who may call which tools, in which Persona environment, until when.

One row per grant, carrying its one live token as a lookup id plus a salted digest (never the token).
Rotation overwrites the token columns in place, so the previous token stops matching in the same commit.
Scopes and tool lists are JSON arrays; `allow_tools` NULL means "no allow list", `[]` means "no tool".
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
)

from persona_mcp.store.metadata import metadata
from persona_mcp.store.schema.types import UtcDateTime

grants = Table(
    "grants",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("principal", String(200), nullable=False),
    Column("principal_kind", String(16), nullable=False),
    Column("environment", String(16), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("allow_tools", JSON(none_as_null=True), nullable=True),
    Column("deny_tools", JSON, nullable=False),
    Column("read_only", Boolean, nullable=False),
    Column("rate_per_minute", Integer, nullable=True),
    Column("label", String(200), nullable=True),
    Column("managed_by", String(200), nullable=True),
    Column("managed_name", String(200), nullable=True),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("token_id", String(32), nullable=False, unique=True),
    Column("token_salt", LargeBinary(16), nullable=False),
    Column("token_digest", LargeBinary(32), nullable=False),
    # Approval policy and per-tool limits of the grant (issue 13): tool names, and {tool, calls,
    # window_seconds} objects.
    Column("require_approval", JSON, nullable=False, server_default="[]"),
    Column("no_approval", JSON, nullable=False, server_default="[]"),
    Column("tool_limits", JSON, nullable=False, server_default="[]"),
    CheckConstraint("principal_kind IN ('agent', 'person')", name="principal_kind"),
    CheckConstraint("environment IN ('sandbox', 'production')", name="environment"),
    CheckConstraint("rate_per_minute IS NULL OR rate_per_minute > 0", name="rate_positive"),
    Index("ix_grants_principal", "principal"),
    Index("ix_grants_managed", "managed_by", "managed_name"),
)

__all__ = ["grants", "metadata"]
