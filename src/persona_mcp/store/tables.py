"""Every table, imported so that `metadata` is complete for migrations and tests.

Each component owns one module under `schema/`; this file only gathers them.
"""

from persona_mcp.store.metadata import metadata
from persona_mcp.store.schema import audit, credentials, events, grants, pacing

__all__ = ["audit", "credentials", "events", "grants", "metadata", "pacing"]
