"""What the audit record says about the MCP connection a call came from."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: Longest client-controlled text (client name, version, session id, unknown tool name) kept in records.
MAX_FIELD = 128
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


def bounded(value: str | None) -> str | None:
    """At most `MAX_FIELD` printable ASCII characters of a value the client chose."""
    if value is None:
        return None
    return _UNPRINTABLE.sub("?", value[:MAX_FIELD])


@dataclass(frozen=True, slots=True)
class SessionInfo:
    session_id: str | None = None
    client_name: str | None = None
    client_version: str | None = None
    transport: str = "memory"


def session_info_from_context(ctx: Any, transport: str) -> SessionInfo:
    """Read session id and client name/version from the SDK's request context, tolerating absences."""
    session_id: str | None = None
    name: str | None = None
    version: str | None = None
    request = getattr(ctx, "request", None)
    headers = getattr(request, "headers", None)
    if headers is not None:
        session_id = headers.get("mcp-session-id")
    try:
        params = ctx.session.client_params
        if params is not None:
            name = params.client_info.name
            version = params.client_info.version
    except Exception:
        pass
    return SessionInfo(
        session_id=bounded(session_id),
        client_name=bounded(name),
        client_version=bounded(version),
        transport=transport,
    )
