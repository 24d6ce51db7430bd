"""How the server introduces itself in `initialize`: name, title, instructions.

Kept apart from the assembled server so the stdio front (`server/stdio.py`) can answer `initialize` with
exactly these words before the rest of the stack is imported.
"""

from __future__ import annotations

NAME = "persona-mcp"
TITLE = "Persona MCP"
INSTRUCTIONS = (
    "Tools for one Persona organization (identity verification). You see only the tools your grant "
    "allows. IDs have fixed prefixes (act_, inq_, iqse_, lst_, wbh_, evt_); list or search tools give "
    "them. Every call is audited; personal data is masked unless your grant carries pii:read. "
    "Write tools take dry_run: true to get the exact request (method, path, body) without sending it. "
    "Destructive and decision tools may need a person's approval: such a call answers with an approval "
    "(type approval, status awaiting_approval) and runs once when repeated with the same arguments after "
    "a person approved it."
)
