"""How the server introduces itself in `initialize`: name, title, instructions.

Kept apart from the assembled server so the stdio front (`server/stdio.py`) can answer `initialize` with
exactly these words before the rest of the stack is imported.
"""

from __future__ import annotations

NAME = "persona-mcp"
TITLE = "Persona MCP"
INSTRUCTIONS = (
    "Tools for one Persona organization (identity verification). You see only the tools your grant "
    "allows. IDs have fixed prefixes (act_, inq_, iqse_, lst_, wbh_, evt_, rep_, case_, ver_); list or "
    "search tools give them (verification ids: get_inquiry, get_case). Reports finish in the "
    "background: wait_for_report. Every call is audited; personal data is masked unless your grant "
    "carries pii:read."
)
