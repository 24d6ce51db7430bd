"""Every table, imported so that `metadata` is complete for migrations and tests.

Each component owns one module under `schema/`; this file only gathers them.
"""

from persona_mcp.store.metadata import metadata
from persona_mcp.store.schema import approvals, audit, credentials, events, grants, oauth, pacing, siem

__all__ = ["approvals", "audit", "credentials", "events", "grants", "metadata", "oauth", "pacing", "siem"]
