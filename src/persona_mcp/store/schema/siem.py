"""Table of SIEM forwarding: how far each forwarder has delivered the audit log.

One row per forwarder name. `last_seq` is the seq of the last record the sink accepted; it only moves
forward (`UPDATE ... WHERE last_seq < :seq`), so two replicas forwarding under one name never move it back,
and a restart resumes after it: at least once, never a record skipped.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, String, Table

from persona_mcp.store.metadata import metadata
from persona_mcp.store.schema.types import UtcDateTime

siem_cursors = Table(
    "siem_cursors",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("last_seq", BigInteger, nullable=False, server_default="0"),
    Column("updated_at", UtcDateTime, nullable=False),
)

__all__ = ["metadata", "siem_cursors"]
