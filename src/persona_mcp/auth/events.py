"""`AdminEventSink` and `DiscardEvents`, re-exported from `persona_mcp.admin_events`.

They live in that neutral module so `audit` can implement the protocol without importing `auth`;
this module keeps the old import path working.
"""

from persona_mcp.admin_events import AdminEventSink, DiscardEvents

__all__ = ["AdminEventSink", "DiscardEvents"]
