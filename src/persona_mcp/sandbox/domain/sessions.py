"""Inquiry sessions: statuses new/active/expired, one-time links, bulk expiry (PROTOCOL.md section 14)."""

from __future__ import annotations

import base64
import json
from typing import Any

from persona_mcp.sandbox.clock import now_iso
from persona_mcp.sandbox.errors import ApiError, conflict
from persona_mcp.sandbox.records import Record, ref
from persona_mcp.sandbox.store import SandboxState

MAX_SESSIONS_PER_INQUIRY = 25
_LINK_BASE = "https://sandbox.withpersona.com/verify"
_SHORT_LINK_BASE = "https://perso.na"

#: What a browser that opened the hosted flow looks like (sessions that were never opened carry nulls).
SAMPLE_DEVICE: dict[str, Any] = {
    "ip-address": "127.0.0.1",
    "user-agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/115.0.0.0 Safari/537.36",
    "os-name": "Mac",
    "os-full-version": "10.15.7",
    "device-type": "desktop",
    "device-name": None,
    "browser-name": "Chrome",
    "browser-full-version": "115.0.0.0",
    "mobile-sdk-name": None,
    "mobile-sdk-full-version": None,
    "device-handoff-method": None,
    "is-proxy": False,
    "is-tor": False,
    "is-datacenter": False,
    "is-vpn": False,
    "threat-level": "low",
    "country-code": "US",
    "country-name": "United States",
    "region-code": "CA",
    "region-name": "California",
    "latitude": 37.7688,
    "longitude": -122.262,
}


def sessions_of(state: SandboxState, inquiry_id: str) -> list[Record]:
    return state.of_type(lambda r: r.type == "inquiry-session" and r.internal["inquiry-id"] == inquiry_id)


def create_session(state: SandboxState, inquiry: Record) -> Record:
    """A new (not yet opened) session; refused for finished-off inquiries and beyond 25 per inquiry."""
    if inquiry.internal.get("redacted") or inquiry.attributes["status"] == "expired":
        raise conflict(f"Inquiry {inquiry.id} is {_why_closed(inquiry)}; resume it first")
    if len(sessions_of(state, inquiry.id)) >= MAX_SESSIONS_PER_INQUIRY:
        raise ApiError(
            422, "Too many sessions", f"An inquiry has at most {MAX_SESSIONS_PER_INQUIRY} sessions"
        )
    attributes: dict[str, Any] = {
        "status": "new",
        "created-at": now_iso(),
        "started-at": None,
        "expired-at": None,
        **dict.fromkeys(SAMPLE_DEVICE),
    }
    session = state.add(
        "iqse",
        "inquiry-session",
        attributes,
        {"inquiry": ref("inquiry", inquiry.id), "device": {"data": None}},
        **{"inquiry-id": inquiry.id},
    )
    linked = inquiry.relationships["sessions"]["data"] if inquiry.relationships else []
    linked.append({"type": "inquiry-session", "id": session.id})
    return session


def _why_closed(inquiry: Record) -> str:
    return "redacted" if inquiry.internal.get("redacted") else "expired"


def start_session(state: SandboxState, session: Record) -> None:
    """The user opened the flow: the session becomes active with a device (used by seed data)."""
    session.attributes.update({"status": "active", "started-at": now_iso(), **SAMPLE_DEVICE})
    assert session.relationships is not None
    session.relationships["device"] = ref("device", state.ids.new("dev"))
    state.emit("inquiry-session.started", session)


def expire_session(state: SandboxState, session: Record) -> Record:
    if session.attributes["status"] == "expired":
        raise conflict(f"Inquiry session {session.id} is already expired")
    session.attributes["status"] = "expired"
    session.attributes["expired-at"] = now_iso()
    state.emit("inquiry-session.expired", session)
    return session


def expire_open_sessions(state: SandboxState, inquiry_id: str) -> list[Record]:
    """Expire every session of an inquiry that is not expired yet; returns those it expired."""
    return [
        expire_session(state, s)
        for s in sessions_of(state, inquiry_id)
        if s.attributes["status"] != "expired"
    ]


def one_time_link(state: SandboxState) -> dict[str, str]:
    """`meta` of a one-time link answer (single use; the sandbox does not serve the hosted flow)."""
    code = state.ids.token(12)
    return {"one-time-link": f"{_LINK_BASE}?code={code}", "one-time-link-short": f"{_SHORT_LINK_BASE}/{code}"}


def session_token(state: SandboxState, session: Record) -> str:
    """A JWT-shaped token naming the session, as Persona's does (the sandbox never verifies it)."""
    claims = base64.urlsafe_b64encode(json.dumps({"sid": session.id, "aud": "persona-verify"}).encode())
    return f"eyJhbGciOiJIUzI1NiJ9.{claims.decode().rstrip('=')}.{state.ids.token(43)}"
