"""Serving one stdio connection, answering `initialize` while the rest of the stack opens.

A desktop client spawns `persona-mcp serve` and waits for the `initialize` answer before anything else;
the store, the audit log, the tool catalogue and their imports take seconds on a small machine. So the
front server (`server/front.py`) answers the handshake at once, while the whole stack is imported on a
worker thread and opened on the event loop. If the stack cannot open (an unknown tool name, an audit
store that cannot be written), waiting requests are refused, the session ends, and the error is raised
to the caller as before.

This module imports only what a bare SDK server imports (`tests/test_cli_startup.py`).
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio

from persona_mcp.server.front import StackSlot, front_server, hold_stack
from persona_mcp.server.stdio_wire import stdio_wire

if TYPE_CHECKING:
    from persona_mcp.config import Settings
    from persona_mcp.server.app import PersonaMcp


async def _hold_stack(
    settings: Settings,
    exposure: Mapping[str, Any],
    slot: StackSlot,
    session_over: anyio.Event,
    end_session: anyio.CancelScope,
) -> None:
    """Open the stack, publish it, keep it open until the session is over, then close it cleanly."""

    async def serve(app: PersonaMcp) -> None:
        address = settings.metrics.address
        if address is None:
            await session_over.wait()
            return
        from persona_mcp.server.run import serve_metrics
        from persona_mcp.server.serving import bind_listener

        # /metrics of a stdio server: only on its own address (PERSONA_MCP_METRICS_BIND).
        with bind_listener(*address, option="PERSONA_MCP_METRICS_BIND") as listener:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(serve_metrics, app.observer, settings, listener)
                await session_over.wait()
                tasks.cancel_scope.cancel()

    await hold_stack(slot, settings, exposure, transport="stdio", serve=serve, on_failure=end_session.cancel)


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _signal in signals:
            scope.cancel()
            return


async def run_stdio(settings: Settings, exposure: Mapping[str, Any]) -> None:
    """Serve one stdio connection; the caller is the grant behind PERSONA_MCP_TOKEN.

    `exposure` holds `ExposureOptions` fields (built once the stack is imported). SIGTERM and SIGINT end
    the session cleanly: the stack still closes, and the audit log writes its final checkpoint.
    """
    slot = StackSlot()
    session_over = anyio.Event()
    session = anyio.CancelScope()
    async with anyio.create_task_group() as stack:
        stack.start_soon(_hold_stack, settings, exposure, slot, session_over, session)
        try:
            with session:
                async with anyio.create_task_group() as tg, stdio_wire() as (read_stream, write_stream):
                    tg.start_soon(_stop_on_signal, tg.cancel_scope)
                    front = front_server(slot)
                    await front.run(read_stream, write_stream, front.create_initialization_options())
                    tg.cancel_scope.cancel()
        finally:
            session_over.set()
    if slot.error is not None:
        raise slot.error
