"""In-process transport that turns the sandbox's dropped responses into real transport errors."""

from __future__ import annotations

import httpx2
from starlette.types import ASGIApp

from persona_mcp.sandbox.pipeline import ConnectionDropped


class SandboxTransport(httpx2.AsyncBaseTransport):
    """`httpx2.ASGITransport` for the sandbox app, with drops surfacing as `httpx2.RemoteProtocolError`.

    Over a socket a dropped response is a connection closed mid-response; in process the app signals it
    by raising `ConnectionDropped`, which this transport converts so that clients under test take the
    same error path they would take against the network.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._inner = httpx2.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            return await self._inner.handle_async_request(request)
        except ConnectionDropped as exc:
            raise httpx2.RemoteProtocolError(
                "Server disconnected without sending a complete response", request=request
            ) from exc

    async def aclose(self) -> None:
        await self._inner.aclose()
