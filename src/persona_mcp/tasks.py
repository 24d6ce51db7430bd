"""Ending a background task from the code that owns it, without swallowing the owner's cancellation.

The usual idiom, `task.cancel()` then `with suppress(CancelledError): await task`, cannot tell the
task's cancellation from the owner's own: when the owner is cancelled while it waits (a shutdown, or
`asyncio.Runner.close` cancelling every task once), the suppress eats that cancellation too and the owner
carries on as if nothing had happened. `asyncio.wait` never raises the task's outcome, so the only
`CancelledError` that can come out of `cancel_and_wait` is the owner's, and it propagates.
"""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(task: asyncio.Future[Any]) -> None:
    """Cancel `task` and wait until it has ended; an exception it ended with is marked as seen."""
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()  # retrieved: a failure while stopping is not worth an "exception never retrieved"


__all__ = ["cancel_and_wait"]
