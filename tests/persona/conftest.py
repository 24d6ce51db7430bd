"""Fixtures for the Persona client tests: a scriptable fake Persona, recording transports, a fake sleep.

`FakePersona` is a tiny Starlette app that answers from a script (one `Reply` per request, then a default
account), records every request it saw, and keeps the accounts created by POST /accounts keyed by
Idempotency-Key the way Persona does. `ScriptedTransport` sits between the client and that app: it can
lose a response after the app has handled the request (a dropped connection) or fail before sending.
The real sandbox tests use `persona_mcp.sandbox` instead; these cover the client's mechanics in isolation.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from persona_mcp.persona import ApiKeyCredential, Exchange, PersonaClient, RetryPolicy

BASE_URL = "https://persona.test/api/v1"
API_KEY = "persona_sandbox_secret_key_123"


@dataclass(frozen=True)
class Reply:
    """One scripted answer. `drop=True` makes the transport lose the response after the app handled it."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


@dataclass(frozen=True)
class Seen:
    """A request as the fake received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


def account(account_id: str, **attributes: Any) -> dict[str, Any]:
    return {"type": "account", "id": account_id, "attributes": attributes, "relationships": {}}


class FakePersona:
    """The scriptable fake (see the module docstring)."""

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.seen: list[Seen] = []
        self.accounts_by_key: dict[str, dict[str, Any]] = {}
        self.pending_drop = False
        self.listing: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/api/v1/{rest:path}", self._handle, methods=_METHODS)])

    def then(self, *replies: Reply) -> FakePersona:
        self.script.extend(replies)
        return self

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        self.seen.append(
            Seen(
                method=request.method,
                path=request.url.path,
                query=dict(request.query_params),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
            )
        )
        reply = self.script.pop(0) if self.script else None
        headers = {"Request-Id": f"req_fake{len(self.seen)}"}
        self.pending_drop = bool(reply and reply.drop)
        if reply is not None and (reply.status != 200 or reply.body is not None):
            return _json(reply.status, reply.body, {**headers, **reply.headers})
        if request.method == "POST" and request.url.path == "/api/v1/accounts":
            key = request.headers.get("idempotency-key", "")
            created = self.accounts_by_key.setdefault(
                key, account(f"act_fake{len(self.accounts_by_key) + 1}")
            )
            return _json(201, {"data": created}, headers)
        if request.method == "GET" and request.url.path == "/api/v1/accounts":
            return _json(200, self._page(request), headers)
        return _json(200, {"data": account("act_default")}, headers)

    def _page(self, request: Request) -> dict[str, Any]:
        """A page of `self.listing` the way Persona pages: `page[size]`, `page[after]`, `links.next`."""
        size = int(request.query_params.get("page[size]", "10"))
        after = request.query_params.get("page[after]")
        ids = [item["id"] for item in self.listing]
        start = ids.index(after) + 1 if after in ids else 0
        items = self.listing[start : start + size]
        more = start + size < len(self.listing)
        next_link = f"/api/v1/accounts?page%5Bafter%5D={items[-1]['id']}" if more and items else None
        return {"data": items, "links": {"prev": None, "next": next_link}}


_METHODS = ["GET", "POST", "PATCH", "DELETE"]


def _json(status: int, body: Any, headers: dict[str, str]) -> Response:
    content = b"" if body is None else json.dumps(body).encode()
    return Response(content, status_code=status, headers=headers, media_type="application/json")


class ScriptedTransport(httpx2.AsyncBaseTransport):
    """Forwards to the fake over ASGI; turns `Reply(drop=True)` into a lost response after the fact."""

    def __init__(self, fake: FakePersona) -> None:
        self._fake = fake
        self._inner = httpx2.ASGITransport(app=fake.app)
        self.requests: list[httpx2.Request] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        response = await self._inner.handle_async_request(request)
        if self._fake.pending_drop:
            self._fake.pending_drop = False
            await response.aclose()
            raise httpx2.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class SleepRecorder:
    """An injected `sleep` that returns at once, remembers what it was asked to wait and moves `now` on.

    Clients built with `clock=sleeper.now` see the time they slept pass, as they would with real sleeps.
    """

    def __init__(self) -> None:
        self.calls: list[float] = []
        self._now = 1000.0

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self._now += seconds

    @property
    def total(self) -> float:
        return sum(self.calls)


@pytest.fixture
def fake() -> FakePersona:
    return FakePersona()


@pytest.fixture
def transport(fake: FakePersona) -> ScriptedTransport:
    return ScriptedTransport(fake)


@pytest.fixture
def sleeper() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def exchanges() -> list[Exchange]:
    return []


ClientFactory = Callable[..., PersonaClient]


@pytest.fixture
async def make_client(
    transport: ScriptedTransport, sleeper: SleepRecorder, exchanges: list[Exchange]
) -> AsyncIterator[ClientFactory]:
    """Build clients on the fake with a fast retry policy; every client is closed after the test."""
    made: list[PersonaClient] = []

    def build(**overrides: Any) -> PersonaClient:
        options: dict[str, Any] = {
            "base_url": BASE_URL,
            "credentials": ApiKeyCredential(API_KEY),
            "transport": transport,
            "sleep": sleeper,
            "clock": sleeper.now,
            "rng": random.Random(7),
            "retry": RetryPolicy(max_retries=3, budget_seconds=30.0, base_delay=0.5, max_delay=4.0),
            "on_exchange": exchanges.append,
        }
        options.update(overrides)
        client = PersonaClient(**options)
        made.append(client)
        return client

    yield build
    for client in made:
        await client.aclose()


@pytest.fixture
def client(make_client: ClientFactory) -> PersonaClient:
    return make_client()
