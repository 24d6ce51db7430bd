"""Stopping a background task never swallows the cancellation of the code that stops it."""

from __future__ import annotations

import asyncio

import pytest

from persona_mcp.tasks import cancel_and_wait

pytestmark = pytest.mark.anyio


async def _slow_to_stop(stopping: asyncio.Event) -> None:
    try:
        await asyncio.Event().wait()
    finally:
        stopping.set()
        await asyncio.shield(asyncio.sleep(0.05))  # its clean-up takes a moment


async def test_an_owner_cancelled_while_its_task_stops_stays_cancelled() -> None:
    stopping = asyncio.Event()
    went_on: list[str] = []

    async def owner(task: asyncio.Task[None]) -> None:
        await cancel_and_wait(task)
        went_on.append("after the task ended")

    background = asyncio.create_task(_slow_to_stop(stopping))
    await asyncio.sleep(0)
    stopper = asyncio.create_task(owner(background))
    await stopping.wait()
    stopper.cancel()  # a shutdown reaches the owner while it waits
    await asyncio.wait([stopper])
    assert stopper.cancelled() and went_on == []
    await asyncio.wait([background])
    assert background.cancelled()


async def test_a_task_that_fails_while_stopping_ends_quietly() -> None:
    async def fails_on_cancel() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            raise RuntimeError("broken clean-up")

    task = asyncio.create_task(fails_on_cancel())
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    assert task.done() and isinstance(task.exception(), RuntimeError)
