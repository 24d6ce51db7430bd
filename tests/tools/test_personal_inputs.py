"""Arguments that carry personal data (or secrets) are marked PII, so the audit log stores digests."""

from __future__ import annotations

from persona_mcp.pii import pii_field_names
from persona_mcp.tools.audit_log import QueryAuditLog


def test_audit_lookup_by_person_marks_its_personal_arguments() -> None:
    assert {"email", "phone", "value"} <= set(pii_field_names(QueryAuditLog))
