"""Sandbox-only helpers: perform-simulate-actions and set-simulate-stubs (PROTOCOL.md section 11)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from persona_mcp.sandbox.domain import inquiries
from persona_mcp.sandbox.errors import ApiError
from persona_mcp.sandbox.fields import entry
from persona_mcp.sandbox.records import Record
from persona_mcp.sandbox.store import SandboxState

_STATUS_ACTIONS: dict[str, Callable[[SandboxState, Record], Any]] = {
    "start_inquiry": inquiries.start,
    "complete_inquiry": inquiries.complete,
    "fail_inquiry": inquiries.fail,
    "expire_inquiry": inquiries.expire,
    "mark_for_review_inquiry": inquiries.mark_for_review,
    "approve_inquiry": lambda state, inquiry: inquiries.decide(state, inquiry, "approve", None),
    "decline_inquiry": lambda state, inquiry: inquiries.decide(state, inquiry, "decline", None),
}
_VERIFICATION_ACTIONS = {"create_passed_verification": True, "create_failed_verification": False}


def _invalid(index: int, key: str, details: str) -> ApiError:
    return ApiError(422, "Invalid attribute", details, pointer=f"/meta/simulate-actions/{index}/{key}")


def perform(state: SandboxState, inquiry: Record, actions: Any) -> Record:
    """Apply the actions in order, each firing the events the real transition fires.

    The whole list is checked before anything is applied; a transition that the lifecycle refuses
    (e.g. completing an approved inquiry) stops the run with 409, keeping the actions already applied,
    as a sequence of separate real transitions would.
    """
    if not isinstance(actions, list) or not actions:
        raise ApiError(
            422,
            "Invalid attribute",
            "meta.simulate-actions must be a non-empty array",
            pointer="/meta/simulate-actions",
        )
    for index, action in enumerate(actions):
        kind = action.get("type") if isinstance(action, dict) else None
        if kind not in _STATUS_ACTIONS and kind not in _VERIFICATION_ACTIONS:
            raise _invalid(index, "type", f"Unknown simulate action {kind!r}")
        if kind in _VERIFICATION_ACTIONS:
            data = action.get("data")
            template = data.get("verification-template-id") if isinstance(data, dict) else None
            if not isinstance(template, str) or not template:
                raise _invalid(index, "data", "data.verification-template-id is required")
    for action in actions:
        kind = action["type"]
        if kind in _STATUS_ACTIONS:
            _STATUS_ACTIONS[kind](state, inquiry)
        else:
            template = action["data"]["verification-template-id"]
            inquiries.add_verification(state, inquiry, _VERIFICATION_ACTIONS[kind], template)
    return inquiry


def set_stubs(inquiry: Record, stubs: Any) -> Record:
    """Remember field values the simulated user will 'submit'; they land in `fields` on completion."""
    if not isinstance(stubs, dict):
        raise ApiError(
            422, "Invalid attribute", "meta.fields-stubs must be an object", pointer="/meta/fields-stubs"
        )
    for key, value in stubs.items():
        inquiry.internal["stubs"][key] = entry(value, "date" if key == "birthdate" else "string")
    return inquiry
