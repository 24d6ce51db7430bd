"""An ASGI app that is built, and its modules imported, when its first request comes.

Parts of the HTTP server that people visit now and then (the console, with Jinja2 and its pages) cost
every server start their imports and every process their memory (issue 18, point 4), while the
serving path (`/mcp`) never uses them. Mounted through `DeferredApp`, they load with their first
request instead. A build may also wait (for the assembled server, when HTTP starts serving before it is
open: `server/http.py`); two first requests still build once, and a build that fails fails its request
and is tried again by the next one.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send


class DeferredApp:
    """Builds the app from `build` on the first request, then passes every request to it."""

    def __init__(self, build: Callable[[], ASGIApp | Awaitable[ASGIApp]]) -> None:
        self._build = build
        self._app: ASGIApp | None = None
        self._building = anyio.Lock()

    @property
    def built(self) -> bool:
        return self._app is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            async with self._building:
                if self._app is None:
                    built = self._build()
                    self._app = await built if inspect.isawaitable(built) else built
        await self._app(scope, receive, send)
