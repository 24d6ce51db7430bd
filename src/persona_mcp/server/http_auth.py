"""Step-up authorization for JWT callers over HTTP (MCP authorization, RFC 6750 section 3.1).

A JWT caller whose token lacks the scope of the tool it calls gets HTTP 403 with
`WWW-Authenticate: Bearer error="insufficient_scope", scope="<needed>", resource_metadata="<url>"`
before the MCP layer, so its client can obtain a token with that scope and retry. The challenge is sent
only when the caller's grant would allow the call with a token carrying every scope: when the grant
itself forbids the tool, a new token cannot help, and a hidden tool must look exactly like a missing one,
so the request goes on to the MCP layer, which refuses it like any unknown tool.

This is guidance for clients, not the enforcement point: the call pipeline authorizes every call again.
Sits after the SDK's authentication middleware (it reads the verified token from the ASGI scope) and
before the MCP endpoint; it buffers the request body to look at it and feeds it on unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from persona_mcp.auth.callers import Caller
from persona_mcp.auth.grants import utcnow
from persona_mcp.auth.policy import authorize
from persona_mcp.auth.scopes import Scope as PermissionScope
from persona_mcp.auth.scopes import expand
from persona_mcp.auth.verifier import caller_from_access_token

#: Bodies larger than this are passed on uninspected (the pipeline still refuses the call).
DEFAULT_MAX_INSPECTED_BYTES = 1024 * 1024


class StepUpMiddleware:
    """Answers `tools/call` from an under-scoped JWT with a 403 `insufficient_scope` challenge."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        tool_scopes: Mapping[str, PermissionScope],
        resource_metadata_url: str,
        tool_effects: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = utcnow,
        max_inspected_bytes: int = DEFAULT_MAX_INSPECTED_BYTES,
    ) -> None:
        self._app = app
        self._tool_scopes = dict(tool_scopes)
        self._tool_effects = dict(tool_effects) if tool_effects is not None else None
        self._metadata_url = resource_metadata_url
        self._clock = clock
        self._max = max_inspected_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        caller = _jwt_caller(scope)
        if scope["type"] != "http" or scope.get("method") != "POST" or caller is None:
            await self._app(scope, receive, send)
            return
        chunks, complete, disconnected = await _read_body(receive, self._max)
        body = b"".join(chunks)
        if complete and not disconnected:
            needed = self._needed_scopes(caller, body)
            if needed:
                await self._challenge(send, needed)
                return
        await self._app(scope, _replay(body, complete, disconnected, receive), send)

    def _needed_scopes(self, caller: Caller, body: bytes) -> list[PermissionScope]:
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return []
        messages = payload if isinstance(payload, list) else [payload]
        needed: list[PermissionScope] = []
        for message in messages:
            scope = self._step_up_scope(caller, message)
            if scope is not None and scope not in needed:
                needed.append(scope)
        return needed

    def _step_up_scope(self, caller: Caller, message: Any) -> PermissionScope | None:
        if not isinstance(message, dict) or message.get("method") != "tools/call":
            return None
        params = message.get("params")
        name = params.get("name") if isinstance(params, dict) else None
        required = self._tool_scopes.get(name) if isinstance(name, str) else None
        if name is None or required is None or required in expand(caller.jwt_scopes or frozenset()):
            return None
        grant_allows = authorize(
            caller.grant, tool=name, scope=required, effect=self._effect(name, required), now=self._clock()
        ).allowed
        return required if grant_allows else None

    def _effect(self, tool: str, scope: PermissionScope) -> str:
        """The tool's effect; without an effect table, inferred from the scope's action."""
        if self._tool_effects is not None:
            return self._tool_effects.get(tool, "unknown")
        return "read" if scope.value.endswith(":read") else "write"

    async def _challenge(self, send: Send, needed: list[PermissionScope]) -> None:
        scopes = " ".join(scope.value for scope in needed)
        description = f"This call needs a token with scope {scopes}."
        header = (
            f'Bearer error="insufficient_scope", scope="{scopes}", '
            f'resource_metadata="{self._metadata_url}", error_description="{description}"'
        )
        body = json.dumps({"error": "insufficient_scope", "error_description": description}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", header.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _jwt_caller(scope: Scope) -> Caller | None:
    user = scope.get("user")
    if not isinstance(user, AuthenticatedUser):
        return None
    caller = caller_from_access_token(user.access_token)
    return caller if caller is not None and caller.token_kind == "jwt" else None


async def _read_body(receive: Receive, limit: int) -> tuple[list[bytes], bool, bool]:
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


def _replay(body: bytes, complete: bool, disconnected: bool, receive: Receive) -> Receive:
    """A `receive` that yields the buffered body first, then whatever the client still sends."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": not complete}]
    if disconnected:
        pending.append({"type": "http.disconnect"})

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
