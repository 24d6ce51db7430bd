"""Each tool's declared OCSF activity, for exports and SIEM forwarding (the audit package cannot import
the tools, so callers hand it this mapping)."""

from __future__ import annotations

from persona_mcp.tools import CATALOGUE
from persona_mcp.tools.saved_files import READ_RESOURCE
from persona_mcp.tools.spec import Activity


def tool_activities() -> dict[str, str]:
    """`{tool name: activity}` over the catalogue, plus the resource read."""
    return {spec.name: spec.api_activity.value for spec in CATALOGUE} | {READ_RESOURCE: Activity.READ.value}
