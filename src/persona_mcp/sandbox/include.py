"""`include=a,b`: embed related objects in `included` (since API 2025-10-27 nothing is embedded unasked)."""

from __future__ import annotations

from typing import Any

from persona_mcp.sandbox.records import Record
from persona_mcp.sandbox.store import SandboxState


def _template(template_id: str) -> dict[str, Any]:
    """Templates are not stored by the sandbox; an active template with a published version stands in."""
    return {
        "type": "inquiry-template",
        "id": template_id,
        "attributes": {"name": "Sandbox template", "status": "active"},
        "relationships": {
            "latest-published-version": {
                "data": {
                    "type": "inquiry-template-version",
                    "id": template_id.replace("itmpl_", "itmplv_", 1),
                }
            }
        },
    }


def included(state: SandboxState, record: Record, include: str | None) -> list[dict[str, Any]]:
    """Resources named by the `include` parameter's relationships, in the order asked, without repeats."""
    if not include or record.relationships is None:
        return []
    found: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for name in (n.strip() for n in include.split(",")):
        linkage = record.relationships.get(name, {}).get("data")
        for ref in linkage if isinstance(linkage, list) else [linkage]:
            if not isinstance(ref, dict) or "id" not in ref or (ref["type"], ref["id"]) in seen:
                continue
            seen.add((ref["type"], ref["id"]))
            if ref["type"] == "inquiry-template":
                found.append(_template(ref["id"]))
            elif ref["type"].startswith("verification-template"):
                found.append({"type": ref["type"], "id": ref["id"]})  # templates are not stored
            elif ref["id"] in state.records:
                found.append(state.records[ref["id"]].resource())
    return found
