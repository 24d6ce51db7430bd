"""Tables of the grants component (owned by that component; registered on the shared metadata)."""

from persona_mcp.store.metadata import metadata

__all__ = ["metadata"]
