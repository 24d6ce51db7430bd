"""How the server introduces itself in `initialize`: name, title, instructions.

Kept apart from the assembled server so the stdio front (`server/stdio.py`) can answer `initialize` with
exactly these words before the rest of the stack is imported.
"""

from __future__ import annotations

NAME = "persona-mcp"
TITLE = "Persona MCP"
#: Shared conventions said once here rather than in every tool description. The ID prefixes cover every
#: kind in `persona/ids.py` (tests/server/test_identity.py holds that as kinds are added).
INSTRUCTIONS = (
    "Tools for one Persona organization (identity verification). You see only the tools your grant "
    "allows. IDs have fixed prefixes: act_ account, acttp_ account type, accac_ account action, inq_ "
    "inquiry, iqse_ inquiry session, itmpl_ inquiry template, itmplv_ template version, ver_ "
    "verification, txn_ transaction, lst_ list, li..._ list item (e.g. liea_, lin_), wbh_ webhook, "
    "evt_ event, rep_ report, rptp_ report template, case_ case, ctmpl_ case template, cqueue_ case "
    "queue, doc_ document, txntp_ transaction type, req_ API log, ual_ user audit log, mprt_ importer, "
    "wfl_ workflow, wfr_ workflow run, wfv_ workflow version, dev_ device; list or search tools give "
    "them (verification ids: get_inquiry, get_case). Reports finish in the background: wait_for_report. "
    "Every call is audited; personal data is masked unless your grant "
    "carries pii:read. "
    "Write tools take dry_run: true to get the exact request (method, path, body) without sending it. "
    "Destructive and decision tools may need a person's approval: such a call answers with an approval "
    "(type approval, status awaiting_approval) and runs once when repeated with the same arguments after "
    "a person approved it."
)
