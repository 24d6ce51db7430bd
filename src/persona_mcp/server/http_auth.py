"""Step-up authorization for JWT callers over HTTP (MCP authorization, RFC 6750 section 3.1).

A JWT caller whose token lacks the scope of the tool it calls gets HTTP 403 with
`WWW-Authenticate: Bearer error="insufficient_scope", scope="<needed>", resource_metadata="<url>"`
before the MCP layer, so its client can obtain a token with that scope and retry. The challenge is sent
only when the caller's grant would allow the call with a token carrying every scope: when the grant
itself forbids the tool, a new token cannot help, so the request goes on to the MCP layer, which refuses
it (naming the scope the grant lacks) as it does for every caller.

This is guidance for clients, not the enforcement point: the call pipeline authorizes every call again.
A challenged call never reaches the pipeline, so the middleware reports it through `on_refused` (the
pipeline's denial record): every call, refused here or there, ends in an audit record. If that record
cannot be written the answer is 503, never a silent refusal.
Sits after the SDK's authentication middleware (it reads the verified token from the ASGI scope) and
before the MCP endpoint; it buffers the request body to look at it and feeds it on unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from pydantic_core import from_json
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from persona_mcp.auth.callers import Caller
from persona_mcp.auth.grants import utcnow
from persona_mcp.auth.policy import authorize
from persona_mcp.auth.scopes import Scope as PermissionScope
from persona_mcp.auth.scopes import expand
from persona_mcp.auth.verifier import caller_from_access_token

_TOOLS_CALL = b"tools/call"

#: Bodies larger than this are passed on uninspected (the pipeline still refuses the call).
DEFAULT_MAX_INSPECTED_BYTES = 1024 * 1024

#: Records a refused call: (caller, tool name, raw arguments, MCP session id, reason).
RefusalRecorder = Callable[[Caller, str, Mapping[str, Any] | None, str | None, str], Awaitable[None]]


class _Refused:
    __slots__ = ("arguments", "scope", "tool")

    def __init__(self, tool: str, scope: PermissionScope, arguments: Mapping[str, Any] | None) -> None:
        self.tool, self.scope, self.arguments = tool, scope, arguments


class StepUpMiddleware:
    """Answers `tools/call` from an under-scoped JWT with a 403 `insufficient_scope` challenge."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        tool_scopes: Mapping[str, PermissionScope],
        resource_metadata_url: str,
        tool_effects: Mapping[str, str],
        on_refused: RefusalRecorder,
        clock: Callable[[], datetime] = utcnow,
        max_inspected_bytes: int = DEFAULT_MAX_INSPECTED_BYTES,
    ) -> None:
        """The two mappings are read at each call, not copied: a server whose catalogue opens after it
        starts serving fills them before its first tool call gets here (`server/http.py`)."""
        self._app = app
        self._tool_scopes = tool_scopes
        self._tool_effects = tool_effects
        self._on_refused = on_refused
        self._metadata_url = resource_metadata_url
        self._clock = clock
        self._max = max_inspected_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        caller = _jwt_caller(scope)
        if scope["type"] != "http" or scope.get("method") != "POST" or caller is None:
            await self._app(scope, receive, send)
            return
        chunks, complete, disconnected = await read_body(receive, self._max)
        body = b"".join(chunks)
        if complete and not disconnected:
            refused = self._refused_calls(caller, body)
            if refused:
                session_id = header_value(scope, b"mcp-session-id")
                try:
                    for call in refused:
                        reason = f"access token lacks scope {call.scope.value}"
                        await self._on_refused(caller, call.tool, call.arguments, session_id, reason)
                except Exception:
                    await send_json(send, 503, {"error": "temporarily_unavailable"}, [])
                    return
                await self._challenge(send, list(dict.fromkeys(call.scope for call in refused)))
                return
        await self._app(scope, replay_body(body, complete, disconnected, receive), send)

    def _refused_calls(self, caller: Caller, body: bytes) -> list[_Refused]:
        if not may_call_a_tool(body):
            return []
        try:
            payload = from_json(body)
        except ValueError:
            return []
        messages = payload if isinstance(payload, list) else [payload]
        refused = [self._step_up(caller, message) for message in messages]
        return [call for call in refused if call is not None]

    def _step_up(self, caller: Caller, message: Any) -> _Refused | None:
        if not isinstance(message, dict) or message.get("method") != "tools/call":
            return None
        params = message.get("params")
        name = params.get("name") if isinstance(params, dict) else None
        required = self._tool_scopes.get(name) if isinstance(name, str) else None
        if name is None or required is None or required in expand(caller.jwt_scopes or frozenset()):
            return None
        effect = self._tool_effects.get(name, "unknown")
        if not authorize(caller.grant, tool=name, scope=required, effect=effect, now=self._clock()).allowed:
            return None
        arguments = params.get("arguments") if isinstance(params, dict) else None
        return _Refused(name, required, arguments if isinstance(arguments, Mapping) else None)

    async def _challenge(self, send: Send, needed: list[PermissionScope]) -> None:
        scopes = " ".join(scope.value for scope in needed)
        description = f"This call needs a token with scope {scopes}."
        header = (
            f'Bearer error="insufficient_scope", scope="{scopes}", '
            f'resource_metadata="{self._metadata_url}", error_description="{description}"'
        )
        content = {"error": "insufficient_scope", "error_description": description}
        await send_json(send, 403, content, [(b"www-authenticate", header.encode())])


def may_call_a_tool(body: bytes) -> bool:
    """Most POSTs are not tool calls (initialize, notifications, lists): a body that names no
    "tools/call" and has no escape (`\\/` or `\\u` could spell it otherwise) cannot hold one, so it is
    not parsed at all. Any other body is parsed, with pydantic-core's parser."""
    return _TOOLS_CALL in body or b"\\" in body


async def send_json(send: Send, status: int, content: Any, headers: list[tuple[bytes, bytes]]) -> None:
    """A whole JSON answer from ASGI middleware that refuses before the app runs."""
    body = json.dumps(content).encode()
    start_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": start_headers})
    await send({"type": "http.response.body", "body": body})


def header_value(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            text: str = value.decode("latin-1")
            return text
    return None


def _jwt_caller(scope: Scope) -> Caller | None:
    user = scope.get("user")
    if not isinstance(user, AuthenticatedUser):
        return None
    caller = caller_from_access_token(user.access_token)
    return caller if caller is not None and caller.token_kind == "jwt" else None


async def read_body(receive: Receive, limit: int) -> tuple[list[bytes], bool, bool]:
    """Body chunks read so far, whether the body is complete, and whether the client disconnected."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return chunks, False, True
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return chunks, True, False
        if size > limit:
            return chunks, False, False


def replay_body(body: bytes, complete: bool, disconnected: bool, receive: Receive) -> Receive:
    """A `receive` that yields the buffered body first, then whatever the client still sends."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": not complete}]
    if disconnected:
        pending.append({"type": "http.disconnect"})

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
