"""One lookup for many concurrent askers of the same key.

The caller and credential caches keep an answer for two seconds. When an entry expires while 64 sessions
are calling, every request in flight misses it at the same moment and each reads the database itself:
64 identical reads where one would do, queued on the store's connections, and the latency of all of them
paid by every call (issue 18's profile: 3-4 % of the server's time at 64 sessions). `SingleFlight` lets
the first asker run the lookup and the others wait for its answer.

The lookup runs in a task of its own, so an asker that is cancelled (its client went away) neither cancels
the lookup for the others nor leaves them with its cancellation; each asker's own cancellation still
reaches it. A lookup that fails fails for every asker that shared it, and the next asker starts anew:
nothing but the answer in flight is shared, never a failure after it has been reported.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """Concurrent `run(key, load)` calls with equal keys share one `load()`."""

    def __init__(self) -> None:
        self._flights: dict[K, asyncio.Task[V]] = {}
        self.loads = 0
        """How many lookups actually ran (for tests: concurrent askers share one)."""

    async def run(self, key: K, load: Callable[[], Coroutine[Any, Any, V]]) -> V:
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.create_task(load(), name="single-flight")
            self.loads += 1
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._landed(key, done))
        return await asyncio.shield(flight)

    def _landed(self, key: K, flight: asyncio.Task[V]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            flight.exception()  # seen: an asker that left must not turn a failure into a loop warning


__all__ = ["SingleFlight"]
