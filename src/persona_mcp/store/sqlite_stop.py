"""aiosqlite connections that stop once: the cure for a shutdown deadlock between SQLAlchemy and aiosqlite.

SQLAlchemy ends a connection whose query was cancelled with `terminate`: a graceful close under
`asyncio.shield` and, when the task is cancelled again meanwhile (anyio repeats a cancellation until the
task leaves the scope), a forced stop as well. On aiosqlite 0.22 both end in `Connection.stop()`, and each
call queues a stop of its own for the connection's worker thread. The thread ends at the first; the
graceful close then waits for an answer to the second from a thread that no longer runs. That shielded
task never finishes, and `asyncio.Runner.close()` (so `asyncio.run`, the server's exit and pytest's anyio
runner) waits for it forever. wapiti-scanner/wapiti#802 reports the same deadlock.

A connection made here stops once: a later stop shares the first one's answer, and a close after a stop
waits for that answer instead of queueing work for a thread that has ended.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiosqlite


class StopsOnce(aiosqlite.Connection):
    """`aiosqlite.Connection` whose `stop` is idempotent and whose `close` after a stop just waits."""

    _stop_requested = False
    _stopped: asyncio.Future[Any] | None = None

    def stop(self) -> asyncio.Future[Any] | None:
        if not self._stop_requested:
            self._stop_requested = True
            self._stopped = super().stop()
        return self._stopped

    async def close(self) -> None:
        if not self._stop_requested:
            await super().close()
        elif self._stopped is not None:
            # Shielded: this caller being cancelled must not cancel the answer the first stop waits for.
            await asyncio.shield(self._stopped)


def stop_once(dbapi_connection: Any) -> None:
    """On each new SQLite connection: make the aiosqlite connection under SQLAlchemy's adapter stop once."""
    driver = getattr(dbapi_connection, "_connection", None)
    if type(driver) is aiosqlite.Connection:
        driver.__class__ = StopsOnce


__all__ = ["StopsOnce", "stop_once"]
