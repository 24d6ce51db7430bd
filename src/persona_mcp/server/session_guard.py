"""Per-grant bounds on MCP sessions over HTTP: opening one counts against the grant's rate limit, and one
grant may hold only so many at a time.

The SDK's session manager bounds sessions in total (`max_sessions`) and closes idle ones
(`session_idle_timeout`), but knows nothing of grants: a grant limited to one call a minute could open
sessions as fast as it liked until the table was full, and every other grant was then refused. This
middleware sits in front of the manager, after authentication, and answers a request that would open a
session (one without `Mcp-Session-Id`) with 429 when the grant's rate limit or session cap is used up.
Every such refusal is recorded in the audit log first (if that fails, the answer is 503).

To count a grant's open sessions it keeps a ledger that mirrors the manager's own lifetime rules from the
requests it sees: a session opens when a request without a session id is answered below 400 with a
session id, ends when a DELETE succeeds or the manager answers 404 for it, and expires once it has had no
request in flight for the idle timeout. Its expiry clock starts when our wrapper sees a request end, which
is never before the manager's, so the ledger can only over-count a session for an instant, never let a
grant exceed its cap.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import principal_components
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from persona_mcp.auth.callers import Caller
from persona_mcp.auth.ratelimit import GrantRateLimiter, RateLimitExceeded
from persona_mcp.auth.verifier import caller_from_access_token
from persona_mcp.server.errors import RATE_LIMITED
from persona_mcp.server.http_auth import send_json

#: Records a refused session opening: (caller, MCP session id or None, reason).
OpeningRefusalRecorder = Callable[[Caller, str | None, str], Awaitable[None]]

_SESSION_HEADER = b"mcp-session-id"
_VERSION_HEADER = b"mcp-protocol-version"

#: Who opened a session as the SDK tells owners apart: (grant id, client id, issuer, subject). A request
#: from anyone else is answered 404 by the manager and must not end the owner's session in the ledger.
Owner = tuple[str, str, str | None, str | None]


@dataclass(slots=True)
class _Session:
    owner: Owner
    in_flight: int = 0
    idle_since: float = 0.0


@dataclass(slots=True)
class SessionLedger:
    """Which grant holds each open session, and how many sessions are open per grant and in total."""

    idle_timeout: float
    clock: Callable[[], float] = time.monotonic
    _sessions: dict[str, _Session] = field(default_factory=dict)
    _by_grant: dict[str, set[str]] = field(default_factory=dict)
    _opening: dict[str, int] = field(default_factory=dict)

    def held_by(self, grant_id: str) -> int:
        """Sessions the grant holds, counting those being opened right now."""
        for session_id in list(self._by_grant.get(grant_id, ())):
            self._expire_if_idle(session_id)
        return len(self._by_grant.get(grant_id, ())) + self._opening.get(grant_id, 0)

    def open_count(self) -> int:
        """Open sessions in total (expired ones are dropped first)."""
        for session_id in list(self._sessions):
            self._expire_if_idle(session_id)
        return len(self._sessions)

    def owner(self, session_id: str) -> Owner | None:
        session = self._sessions.get(session_id)
        return session.owner if session is not None else None

    def start_opening(self, grant_id: str) -> None:
        self._opening[grant_id] = self._opening.get(grant_id, 0) + 1

    def finish_opening(self, grant_id: str) -> None:
        left = self._opening.get(grant_id, 0) - 1
        if left > 0:
            self._opening[grant_id] = left
        else:
            self._opening.pop(grant_id, None)

    def opened(self, session_id: str, owner: Owner) -> None:
        """A session now exists, with its opening request still in flight."""
        self._sessions[session_id] = _Session(owner=owner, in_flight=1)
        self._by_grant.setdefault(owner[0], set()).add(session_id)

    def enter(self, session_id: str) -> None:
        session = self._sessions.get(session_id)
        if session is not None:
            session.in_flight += 1

    def leave(self, session_id: str) -> None:
        session = self._sessions.get(session_id)
        if session is not None:
            session.in_flight -= 1
            if session.in_flight <= 0:
                session.in_flight = 0
                session.idle_since = self.clock()

    def closed(self, session_id: str) -> None:
        session = self._sessions.pop(session_id, None)
        if session is None:
            return
        held = self._by_grant.get(session.owner[0])
        if held is not None:
            held.discard(session_id)
            if not held:
                del self._by_grant[session.owner[0]]

    def _expire_if_idle(self, session_id: str) -> None:
        session = self._sessions.get(session_id)
        if session is None or session.in_flight:
            return
        if self.clock() - session.idle_since >= self.idle_timeout:
            self.closed(session_id)


class SessionGuard:
    """ASGI middleware in front of the SDK's session manager; see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        ledger: SessionLedger,
        rate_limiter: GrantRateLimiter,
        max_per_grant: int,
        on_refused: OpeningRefusalRecorder,
    ) -> None:
        self._app = app
        self._ledger = ledger
        self._rate = rate_limiter
        self._max_per_grant = max_per_grant
        self._on_refused = on_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = _caller(scope)
        version = _header(scope, _VERSION_HEADER)
        sessionless = version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS
        if scope["type"] != "http" or found is None or sessionless:
            # Protocol revisions without sessions open none; their calls meet the rate limit in the pipeline.
            await self._app(scope, receive, send)
            return
        caller, owner = found
        session_id = _header(scope, _SESSION_HEADER)
        if session_id is None:
            await self._open(caller, owner, scope, receive, send)
        elif self._ledger.owner(session_id) == owner:
            await self._continue(session_id, scope, receive, send)
        else:  # unknown, expired or someone else's session: the manager answers 404
            await self._app(scope, receive, send)

    async def _open(self, caller: Caller, owner: Owner, scope: Scope, receive: Receive, send: Send) -> None:
        grant_id = caller.grant.id
        refusal = self._refusal(caller)
        if refusal is not None:
            reason, message, retry_after = refusal
            try:
                await self._on_refused(caller, None, reason)
            except Exception:
                await send_json(send, 503, {"error": "temporarily_unavailable"}, [])
                return
            await _send_refusal(send, message, retry_after)
            return
        self._ledger.start_opening(grant_id)
        opened: str | None = None

        async def watch(message: Message) -> None:
            nonlocal opened
            if message["type"] == "http.response.start" and message["status"] < 400:
                opened = _response_header(message, _SESSION_HEADER)
                if opened is not None:
                    self._ledger.opened(opened, owner)
                    self._ledger.finish_opening(grant_id)
            await send(message)

        try:
            await self._app(scope, receive, watch)
        finally:
            if opened is None:
                self._ledger.finish_opening(grant_id)
            else:
                self._ledger.leave(opened)

    def _refusal(self, caller: Caller) -> tuple[str, str, float] | None:
        """(audit reason, message, retry-after seconds) when this caller may not open a session now."""
        grant = caller.grant
        held = self._ledger.held_by(grant.id)
        if held >= self._max_per_grant:
            wait = self._ledger.idle_timeout
            message = (
                f"Grant {grant.id} already holds {held} open MCP sessions, its limit; reuse one, end one "
                f"with DELETE, or wait for an idle one to close (after {wait:.0f} s). An operator can raise "
                "the limit with PERSONA_MCP_HTTP_MAX_SESSIONS_PER_GRANT."
            )
            return "session limit", message, wait
        try:
            self._rate.acquire(grant)
        except RateLimitExceeded as exc:
            message = f"Opening a session counts as a call: {exc}."
            return "rate limited", message, exc.retry_after
        return None

    async def _continue(self, session_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        status: int | None = None

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self._ledger.enter(session_id)
        try:
            await self._app(scope, receive, watch)
        finally:
            self._ledger.leave(session_id)
            ended = status == 404 or (scope.get("method") == "DELETE" and status is not None and status < 300)
            if ended:
                self._ledger.closed(session_id)


def _caller(scope: Scope) -> tuple[Caller, Owner] | None:
    user = scope.get("user")
    if not isinstance(user, AuthenticatedUser):
        return None
    caller = caller_from_access_token(user.access_token)
    if caller is None:
        return None
    return caller, (caller.grant.id, *principal_components(user.access_token))


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            text: str = value.decode("latin-1")
            return text
    return None


def _response_header(message: Message, name: bytes) -> str | None:
    for key, value in message.get("headers", []):
        if bytes(key).lower() == name:
            text: str = bytes(value).decode("latin-1")
            return text
    return None


async def _send_refusal(send: Send, message: str, retry_after: float) -> None:
    seconds = max(1, round(retry_after))
    body: dict[str, Any] = {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": RATE_LIMITED, "message": message, "data": {"retry_after_seconds": seconds}},
    }
    await send_json(send, 429, body, [(b"retry-after", str(seconds).encode())])
