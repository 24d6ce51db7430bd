"""The request pipeline every `/api/v1` call passes through, in Persona's order.

route match -> injected latency -> rate limit -> scripted / random faults -> authentication ->
`Key-Inflection` check -> idempotency replay -> handler (under the state lock) -> idempotency store ->
maybe drop the connection -> common response headers.

Idempotency sits behind rate limiting and authentication, so 429 and 401 are never stored (PROTOCOL.md
section 4). Injected faults are infrastructure failures, not answers, so they are never stored either; a
dropped response, by contrast, belongs to a request that was applied and stored.
"""

from __future__ import annotations

import json
import uuid
from http import HTTPStatus
from typing import Any

import anyio
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from persona_mcp.sandbox.auth import TokenIssuer, authenticate, bearer_token
from persona_mcp.sandbox.errors import ApiError
from persona_mcp.sandbox.faults import RateWindow
from persona_mcp.sandbox.idempotency import StoredResponse, fingerprint
from persona_mcp.sandbox.inflection import INFLECTIONS
from persona_mcp.sandbox.store import SandboxState

API_PREFIX = "/api/v1"
CONTROL_PREFIX = "/__sandbox__"
_WRITE_METHODS = frozenset({"POST", "PATCH", "DELETE"})
_FAULT_TITLES = {
    429: "Rate limit exceeded",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}


class ConnectionDropped(Exception):
    """Raised after a response has started: the client must see a broken connection, not an answer."""


class SandboxPipeline:
    """ASGI middleware in front of the sandbox routes (see the module docstring for the order)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        state: SandboxState,
        api_routes: list[BaseRoute],
        open_routes: list[BaseRoute],
        api_keys: frozenset[str],
        issuer: TokenIssuer | None,
        environment_id: str,
        organization_id: str,
    ) -> None:
        self.app = app
        self.state = state
        self.api_routes = api_routes
        self.open_routes = open_routes
        self.api_keys = api_keys
        self.issuer = issuer
        self.identity_headers = {
            "Persona-Environment-Id": environment_id,
            "Persona-Organization-Id": organization_id,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        headers = {"Request-Id": "req_" + uuid.uuid4().hex[:24], **self.identity_headers}
        try:
            await self._handle(scope, receive, send, headers)
        except ApiError as error:
            await _send_json(send, error.status, error.document(), {**headers, **error.headers})

    async def _handle(self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str]) -> None:
        method: str = scope["method"]
        operation, is_open = self._match(scope)
        self.state.counters[operation] += 1
        injector = self.state.injector
        delay = injector.latency_seconds(method in _WRITE_METHODS)
        if delay:
            await anyio.sleep(delay)
        window = injector.take_rate_window()
        headers.update(_rate_headers(window))
        if window.exceeded:
            raise ApiError(
                429,
                "Rate limit exceeded",
                f"You have hit your rate limit of {window.limit} requests / window.",
                headers={"Retry-After": str(window.reset_seconds)},
            )
        injected = injector.scripted_failure() or injector.random_failure()
        if injected is not None:
            retry = {"Retry-After": str(self.state.faults.retry_after_seconds)} if injected == 429 else {}
            raise ApiError(injected, _FAULT_TITLES.get(injected, HTTPStatus(injected).phrase), headers=retry)
        credential = (
            "" if is_open else authenticate(bearer_token(scope["headers"]), self.api_keys, self.issuer)
        )
        _check_inflection(scope)
        body = await _read_body(receive)
        idempotency_key = _header(scope, b"idempotency-key") if method == "POST" and not is_open else None
        request_print = fingerprint(method, scope["path"], scope.get("query_string", b"").decode(), body)
        if idempotency_key is not None:
            stored = self.state.idempotency.get(credential, idempotency_key)
            if stored is not None:
                if stored.fingerprint != request_print:
                    raise ApiError(
                        409,
                        "Idempotency key reused",
                        "This Idempotency-Key was already used with different request parameters.",
                    )
                await self._finish(send, stored.status, stored.body, stored.content_type, headers)
                return
        status, response_headers, response_body = await self._run(scope, body)
        content_type = response_headers.get("content-type", "application/json")
        if idempotency_key is not None and status not in (401, 429):
            stored_response = StoredResponse(request_print, status, response_body, content_type)
            self.state.idempotency.put(credential, idempotency_key, stored_response)
        await self._finish(send, status, response_body, content_type, headers)

    def _match(self, scope: Scope) -> tuple[str, bool]:
        """The catalogue operation id served by this path and method (404/405 as Persona would answer)."""
        partial = False
        for routes, is_open in ((self.open_routes, True), (self.api_routes, False)):
            for route in routes:
                match, _ = route.matches(scope)
                if match is Match.FULL:
                    return str(getattr(route, "name", "") or scope["path"]), is_open
                partial = partial or match is Match.PARTIAL
        if partial:
            raise ApiError(
                405, "Method not allowed", f"{scope['method']} is not supported on {scope['path']}"
            )
        raise ApiError(404, "Not found", f"No route matches {scope['path']}")

    async def _run(self, scope: Scope, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """Run the route handler on the buffered body and capture its whole response."""
        sent = False
        status = 500
        response_headers: dict[str, str] = {}
        chunks: list[bytes] = []

        async def replay_body() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", []):
                    response_headers[name.decode("latin-1").lower()] = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        async with self.state.lock:
            self.state.tick()
            await self.app(scope, replay_body, capture)
        return status, response_headers, b"".join(chunks)

    async def _finish(
        self, send: Send, status: int, body: bytes, content_type: str, headers: dict[str, str]
    ) -> None:
        if self.state.injector.should_drop():
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": _raw_headers(headers, content_type, len(body)),
                }
            )
            raise ConnectionDropped("response dropped by the sandbox fault settings")
        await _send(send, status, body, content_type, headers)


def _check_inflection(scope: Scope) -> None:
    requested = _header(scope, b"key-inflection")
    if requested is not None and requested.lower() not in INFLECTIONS:
        raise ApiError(400, "Bad request", f"Key-Inflection must be one of {', '.join(INFLECTIONS)}")


def _rate_headers(window: RateWindow) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(window.limit),
        "RateLimit-Remaining": str(window.remaining),
        "RateLimit-Reset": str(window.reset_seconds),
    }


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            text: str = value.decode("latin-1")
            return text
    return None


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _raw_headers(headers: dict[str, str], content_type: str, length: int) -> list[tuple[bytes, bytes]]:
    pairs = {**headers, "Content-Type": content_type, "Content-Length": str(length)}
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in pairs.items()]


async def _send(send: Send, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": _raw_headers(headers, content_type, len(body)),
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _send_json(send: Send, status: int, document: dict[str, Any], headers: dict[str, str]) -> None:
    await _send(send, status, json.dumps(document).encode(), "application/json", headers)
