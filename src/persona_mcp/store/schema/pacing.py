"""Table of upstream pacing: Persona's rate-limit window as the replicas sharing this database observed it.

One row per budget (a Persona environment). The columns are the state the rate gate keeps
(`persona_mcp.persona.ratelimit.WindowState`); times are seconds since the epoch on the database's clock,
so replicas on machines whose clocks disagree still agree on when a window ends. A row is read with
`SELECT ... FOR UPDATE` and written back in the same short transaction, so every change is atomic.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Double, Integer, String, Table

from persona_mcp.store.metadata import metadata

upstream_rate_windows = Table(
    "upstream_rate_windows",
    metadata,
    Column("budget", String(64), primary_key=True),
    Column("request_limit", Integer, nullable=True),
    Column("remaining", Integer, nullable=True),
    Column("ends_at", Double, nullable=True),
    Column("heard", Boolean, nullable=False, server_default="0"),
    Column("in_flight", Integer, nullable=False, server_default="0"),
    Column("next_at", Double, nullable=False, server_default="0"),
    Column("window_seconds", Double, nullable=True),
    Column("held_until", Double, nullable=False, server_default="0"),
)

__all__ = ["metadata", "upstream_rate_windows"]
