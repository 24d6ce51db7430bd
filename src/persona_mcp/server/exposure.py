"""Which tools this server instance offers at all (before any caller's grant is considered).

Exposure precedence, written once: grant scopes -> read-only mode -> excluded tools -> included tools ->
toolsets (the default toolsets when neither tools nor toolsets are named). The grant part is per caller
(`CallPipeline.visible_to`); the rest is fixed at startup here, through `Catalogue.select`, and an
unknown name anywhere is a startup error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from persona_mcp.tools import CATALOGUE
from persona_mcp.tools.registry import Catalogue
from persona_mcp.tools.spec import ToolSpec
from persona_mcp.toolsets import ALL


@dataclass(frozen=True, slots=True)
class ExposureOptions:
    """`None` for both `toolsets` and `tools` means the default toolsets; `{"all"}` opens every one."""

    toolsets: frozenset[str] | None = None
    tools: frozenset[str] | None = None
    exclude_tools: frozenset[str] | None = None
    read_only: bool = False

    @classmethod
    def everything(cls) -> ExposureOptions:
        """Every toolset (`--toolsets all`): the grant's scopes alone decide what a caller sees."""
        return cls(toolsets=frozenset({ALL}))


def exposed_tools(options: ExposureOptions, catalogue: Catalogue | None = None) -> list[ToolSpec[Any, Any]]:
    """The server-wide tool set; raises `UnknownToolError` for unknown tool or toolset names."""
    cat = catalogue or Catalogue(CATALOGUE)
    return list(
        cat.select(
            toolsets=set(options.toolsets) if options.toolsets is not None else None,
            tools=set(options.tools) if options.tools is not None else None,
            exclude=set(options.exclude_tools) if options.exclude_tools is not None else None,
            read_only=options.read_only,
        )
    )
