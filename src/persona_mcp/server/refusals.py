"""Refused HTTP requests (401) end in audit records, without letting a flood fill the log.

The SDK's `RequireAuthMiddleware` answers a request without a valid bearer token before the MCP layer
runs, so the call pipeline never sees it. `RecordRefusedRequests` sits in front of it: it asks the
resolver why the token was refused (and which grant its lookup id names), records the refusal, and only
then lets the 401 go out. If the record cannot be written the answer is 503: the refusal is never silent.

Bounded under a flood: refusals are grouped by source (the client address), reason and named grant. The
first refusal of a group in a window is recorded at once, in full; later ones in the same window are only
counted, and one `call.denied` record per group and window says how many there were, from when to when.
The number of groups per window is capped; past the cap, new groups share one overflow group. So an
unauthenticated sender adds at most two records per window per group, whatever its rate.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import structlog
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from starlette.types import ASGIApp, Receive, Scope, Send

from persona_mcp.audit import AuditUnavailableError
from persona_mcp.auth.callers import TokenRefusal
from persona_mcp.server.http_auth import header_value, replay_body, send_json
from persona_mcp.server.session_info import SessionInfo, bounded

log = structlog.get_logger("persona_mcp.refusals")

#: Writes one denial record: (refusal, tool or None, session, reason override, details).
DenialWriter = Callable[
    [TokenRefusal, str | None, SessionInfo, str | None, Mapping[str, Any] | None], Awaitable[None]
]

DEFAULT_WINDOW_SECONDS = 60.0
DEFAULT_MAX_GROUPS = 1024
#: Bytes of a refused request's body read to name the JSON-RPC method and tool in the record.
MAX_INSPECTED_BODY = 64 * 1024
#: How long a refused request may take to send that much (a slow sender is recorded without a tool).
BODY_READ_SECONDS = 2.0
_OVERFLOW = "(other sources: group limit reached)"
_UNRECORDED = {"error": "temporarily_unavailable", "error_description": "the audit log cannot be written"}


@dataclass(slots=True)
class _Group:
    """Refusals of one (source, reason, grant) in the current window, after the first."""

    refusal: TokenRefusal
    source_digest: str
    window_started: float
    suppressed: int = 0
    first_suppressed: float | None = None
    last_suppressed: float | None = None
    tools: set[str] = field(default_factory=set)


class RefusalAggregator:
    """Records refused requests: the first of each group per window at once, the rest as one count."""

    def __init__(
        self,
        write: DenialWriter,
        digest: Callable[[str], str],
        *,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        max_groups: int = DEFAULT_MAX_GROUPS,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if window_seconds <= 0 or max_groups < 1:
            raise ValueError("window_seconds must be > 0 and max_groups >= 1")
        self._write = write
        self._digest = digest
        self._window = window_seconds
        self._max_groups = max_groups
        self._clock = clock
        self._wall = wall_clock
        self._groups: dict[tuple[str, str, str | None], _Group] = {}

    @property
    def window_seconds(self) -> float:
        return self._window

    async def refused(
        self, source: str, refusal: TokenRefusal, tool: str | None, session: SessionInfo
    ) -> None:
        """Account for one refused request. Raises `AuditUnavailableError` if its record failed."""
        key = (source, refusal.reason, refusal.grant_id)
        now = self._clock()
        group = self._groups.get(key)
        if group is not None and now - group.window_started >= self._window:
            await self._flush(key, group)
            group = None
        if group is None and key not in self._groups and len(self._groups) >= self._max_groups:
            key = (_OVERFLOW, "refused requests", None)
            group = self._groups.get(key)
            refusal = TokenRefusal("refused requests")
        if group is not None:
            group.suppressed += 1
            group.first_suppressed = group.first_suppressed or self._wall()
            group.last_suppressed = self._wall()
            if tool is not None and len(group.tools) < 16:
                group.tools.add(bounded(tool) or "")
            return
        source_digest = self._digest(source) if key[0] != _OVERFLOW else _OVERFLOW
        await self._write(refusal, tool, session, None, {"source": source_digest})
        self._groups[key] = _Group(refusal=refusal, source_digest=source_digest, window_started=now)

    async def flush_expired(self) -> None:
        """Write the count records of every window that has ended (run periodically)."""
        now = self._clock()
        for key, group in list(self._groups.items()):
            if now - group.window_started >= self._window:
                await self._flush(key, group)

    async def flush_all(self) -> None:
        """Write every pending count record now (at shutdown)."""
        for key, group in list(self._groups.items()):
            await self._flush(key, group)

    async def run(self) -> None:
        """Flush ended windows every second until cancelled; failures are retried on the next tick."""
        while True:
            await anyio.sleep(min(1.0, self._window))
            try:
                await self.flush_expired()
            except AuditUnavailableError:
                log.warning("refusals.flush_failed")

    async def _flush(self, key: tuple[str, str, str | None], group: _Group) -> None:
        if group.suppressed:
            details: dict[str, Any] = {
                "source": group.source_digest,
                "aggregated": group.suppressed,
                "window_seconds": self._window,
                "first_at": _iso(group.first_suppressed),
                "last_at": _iso(group.last_suppressed),
            }
            if group.tools:
                details["tools"] = sorted(group.tools)
            reason = (
                f"{group.refusal.reason}; {group.suppressed} more refused request(s) from this source "
                f"in a {math.ceil(self._window)} s window"
            )
            await self._write(group.refusal, None, SessionInfo(transport="http"), reason, details)
        self._groups.pop(key, None)


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class RecordRefusedRequests:
    """ASGI middleware in front of `RequireAuthMiddleware`: records every request it will refuse."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        aggregator: RefusalAggregator,
        explain: Callable[[str | None], Awaitable[TokenRefusal]],
    ) -> None:
        self._app = app
        self._aggregator = aggregator
        self._explain = explain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or isinstance(scope.get("user"), AuthenticatedUser):
            await self._app(scope, receive, send)
            return
        body, complete, disconnected = await _read_some(receive)
        method, tool = _jsonrpc_call(body) if complete else (None, None)
        try:
            refusal = await self._explain(_bearer(scope))
        except Exception:
            refusal = TokenRefusal("the token could not be checked")
        session = SessionInfo(session_id=bounded(header_value(scope, b"mcp-session-id")), transport="http")
        client = scope.get("client")
        source = str(client[0]) if client else "unknown"
        try:
            if method is not None and tool is None:
                refusal = TokenRefusal(f"{refusal.reason} ({bounded(method)})", refusal.grant)
            await self._aggregator.refused(source, refusal, tool, session)
        except AuditUnavailableError:
            await send_json(send, 503, _UNRECORDED, [])
            return
        await self._app(scope, replay_body(body, complete, disconnected, receive), send)


def _bearer(scope: Scope) -> str | None:
    value = header_value(scope, b"authorization")
    if value is None:
        return None
    kind, _, token = value.partition(" ")
    return token.strip() or None if kind.lower() == "bearer" else None


def _jsonrpc_call(body: bytes) -> tuple[str | None, str | None]:
    """The JSON-RPC method of a request body and, for tools/call, the tool name (each None if absent)."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, None
    message = payload[0] if isinstance(payload, list) and payload else payload
    if not isinstance(message, dict) or not isinstance(message.get("method"), str):
        return None, None
    method: str = message["method"]
    params = message.get("params")
    name = params.get("name") if isinstance(params, dict) and method == "tools/call" else None
    return method, name if isinstance(name, str) else None


async def _read_some(receive: Receive) -> tuple[bytes, bool, bool]:
    """Up to `MAX_INSPECTED_BODY` bytes of the body within `BODY_READ_SECONDS`; (body, complete, gone)."""
    chunks: list[bytes] = []
    size = 0
    with anyio.move_on_after(BODY_READ_SECONDS):
        while size <= MAX_INSPECTED_BODY:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks), False, True
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), True, False
    return b"".join(chunks), False, False
