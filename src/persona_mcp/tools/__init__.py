"""The tool catalogue: every family in order, as one explicit tuple.

Reading this file tells you every tool the server can expose. Each tool names its toolset, declared in
`persona_mcp/toolsets.py` (the catalogue refuses an undeclared one); which toolsets a server offers by
default is said there. The reviewer tools over the audit log (`tools/audit_log.py`) join the catalogue
when that module is present.
"""

from __future__ import annotations

import importlib
from typing import Any

from persona_mcp.tools import (
    accounts,
    cases,
    devices,
    documents,
    events,
    importers,
    inquiries,
    inquiry_sessions,
    list_items,
    lists,
    logs,
    rate_limits,
    reports,
    templates,
    transactions,
    verifications,
    waiting,
    webhooks,
    workflows,
)
from persona_mcp.tools.registry import Catalogue, UnknownToolError
from persona_mcp.tools.spec import Activity, Annotations, Effect, ToolContext, ToolSpec
from persona_mcp.toolsets import TOOLSETS, Toolset


def _optional_family(module: str) -> tuple[ToolSpec[Any, Any], ...]:
    """A family that may not exist yet in this checkout; absent means no tools, broken still raises."""
    try:
        loaded = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return ()
        raise
    tools: tuple[ToolSpec[Any, Any], ...] = tuple(loaded.TOOLS)
    return tools


CATALOGUE: tuple[ToolSpec[Any, Any], ...] = (
    *accounts.TOOLS,
    *inquiries.TOOLS,
    waiting.wait_for_inquiry,
    *inquiry_sessions.TOOLS,
    *events.TOOLS,
    *lists.TOOLS,
    *list_items.TOOLS,
    *webhooks.TOOLS,
    *reports.TOOLS,
    waiting.wait_for_report,
    *cases.TOOLS,
    *verifications.TOOLS,
    *documents.TOOLS,
    *transactions.TOOLS,
    *logs.TOOLS,
    *importers.TOOLS,
    *workflows.TOOLS,
    *templates.TOOLS,
    *devices.TOOLS,
    *rate_limits.TOOLS,
    *_optional_family("persona_mcp.tools.audit_log"),
)

catalogue = Catalogue(CATALOGUE)

__all__ = [
    "CATALOGUE",
    "TOOLSETS",
    "Activity",
    "Annotations",
    "Catalogue",
    "Effect",
    "ToolContext",
    "ToolSpec",
    "Toolset",
    "UnknownToolError",
    "catalogue",
]
