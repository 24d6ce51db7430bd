"""A server that answers `initialize` before the rest of persona-mcp is open, then hands every request on.

A client waits for the `initialize` answer before anything else, while the tool catalogue, the call
pipeline and their imports take a second on a small machine. So a front `Server` with the same identity
and capabilities as the assembled one answers the handshake at once; every other request waits until
the assembled server (`open_server`) is open and is then handled by that server's own handler, so
listing, policy, validation and audit are exactly those of `open_server`. If it cannot open, waiting
requests are refused: nothing is ever served without the audit log.

Over stdio the front stands in for the whole stack (`server/stdio.py`); over HTTP, for the part after
the store, the audit log and the grants, which checking a bearer token needs (`server/run.py`). This
module imports only what a bare SDK server imports; `tests/server/test_stdio_front.py` keeps the front's
capabilities equal to the assembled server's.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError

import persona_mcp
from persona_mcp.server.identity import INSTRUCTIONS, NAME, TITLE
from persona_mcp.server.sdk_spans import without_idle_spans

if TYPE_CHECKING:
    from persona_mcp.config import Settings
    from persona_mcp.server.app import PersonaMcp
    from persona_mcp.server.core import ServerCore

#: The catalogue and the call pipeline: imported on a worker thread, so the event loop stays free to serve.
_STACK_MODULES = ("persona_mcp.server.app", "persona_mcp.server.exposure")

#: The requests the assembled server handles (besides `ping`, which the front answers itself).
FORWARDED: Mapping[str, type[Any]] = {
    "tools/list": types.PaginatedRequestParams,
    "tools/call": types.CallToolRequestParams,
    "resources/list": types.PaginatedRequestParams,
    "resources/read": types.ReadResourceRequestParams,
    "resources/templates/list": types.PaginatedRequestParams,
    "resources/subscribe": types.SubscribeRequestParams,
    "resources/unsubscribe": types.UnsubscribeRequestParams,
    "subscriptions/listen": types.SubscriptionsListenRequestParams,
}


class StackSlot:
    """The assembled server once it is open, or why it could not open; requests wait on it."""

    def __init__(self) -> None:
        self._settled = anyio.Event()
        self.app: PersonaMcp | None = None
        self.error: BaseException | None = None

    def open(self, app: PersonaMcp) -> None:
        self.app = app
        self._settled.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self._settled.set()

    async def ready(self) -> PersonaMcp:
        if self.app is None:  # once open, no wait: `Event.wait` would yield to the event loop each call
            await self._settled.wait()
            if self.app is None:
                raise MCPError(types.INTERNAL_ERROR, "persona-mcp could not start; its log (stderr) says why")
        return self.app


def front_server(slot: StackSlot) -> Server[Any]:
    """A server with the assembled server's identity whose handlers wait for the stack, then delegate."""

    def forward(method: str) -> Callable[[Any, Any], Awaitable[Any]]:
        async def handler(ctx: Any, params: Any) -> Any:
            app = await slot.ready()
            entry = app.server.get_request_handler(method)
            if entry is None:  # pragma: no cover - the front/assembled capability test keeps them equal
                raise MCPError(types.METHOD_NOT_FOUND, f"Method not found: {method}")
            return await entry.handler(ctx, params)

        return handler

    def input_schema(name: str) -> Mapping[str, Any] | None:
        # The SDK checks a call's Mcp-Param headers (HTTP) against this; over HTTP a tool call waits for
        # the catalogue before it is dispatched (`server/http.py`), so the assembled server answers.
        lookup = slot.app.server.get_tool_input_schema if slot.app is not None else None
        return lookup(name) if lookup is not None else None

    front: Server[Any] = Server(
        NAME,
        version=persona_mcp.__version__,
        title=TITLE,
        instructions=INSTRUCTIONS,
        get_tool_input_schema=input_schema,
    )
    for method, params_type in FORWARDED.items():
        front.add_request_handler(method, params_type, forward(method))
    return without_idle_spans(front)


def import_stack() -> None:
    """Import what the front stands in for (run on a worker thread)."""
    for module in _STACK_MODULES:
        importlib.import_module(module)


async def hold_stack(
    slot: StackSlot,
    settings: Settings,
    exposure: Mapping[str, Any],
    *,
    transport: str,
    serve: Callable[[PersonaMcp], Awaitable[None]],
    on_failure: Callable[[], None],
    core: ServerCore | None = None,
) -> None:
    """Import the stack on a worker thread, open it (on `core`, if given), publish it in `slot`, keep it
    open while `serve` runs, then close it. If it cannot open (or `serve` fails) the slot fails with the
    error, so waiting requests are refused, and `on_failure` ends the serving.

    `exposure` holds `ExposureOptions` fields. The imported modules are frozen before opening and the
    startup heap after it (`server/heap.py`), so the collection at the end of startup walks only what
    opening made."""
    try:
        await anyio.to_thread.run_sync(import_stack)
        from persona_mcp.server.app import open_server
        from persona_mcp.server.exposure import ExposureOptions
        from persona_mcp.server.heap import freeze_imports, freeze_startup_heap

        freeze_imports()
        options = ExposureOptions(**exposure)
        async with open_server(settings, exposure=options, transport=transport, core=core) as app:
            freeze_startup_heap()
            slot.open(app)
            await serve(app)
    except Exception as exc:
        slot.fail(exc)
        on_failure()
