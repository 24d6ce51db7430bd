"""Telling everyone who waits that an event arrived: on this replica at once, on the others within a bound.

The replica that stores an event publishes its notice at once. Every replica also polls the store for
events received since its last look (with an overlap covering commits that land late), so a subscriber
connected to one replica hears of a delivery another replica received within `poll_seconds`. A notice
is published once per replica (event ids already published are remembered for longer than the overlap).

`wait_for` is the API a waiting tool plugs into: "the next event about this object (of these names)",
answered from the store if one already arrived, else by the first matching notice, else None at the
deadline.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta

import anyio
import structlog

from persona_mcp.events.store import EventNotice, EventStore

_log = structlog.get_logger("persona_mcp.events")

Listener = Callable[[EventNotice], None]
#: Events received this long before the previous poll are looked at again (late commits, clock skew).
POLL_OVERLAP = timedelta(seconds=10)
#: At most this many published ids are remembered (older ones are past the overlap long before).
_SEEN_MAX = 50_000
#: Retention is enforced this often.
PURGE_EVERY_SECONDS = 3600.0


class EventHub:
    """Fan-out of event notices to in-process listeners, fed by the receiver and by polling the store."""

    def __init__(
        self,
        store: EventStore,
        *,
        poll_seconds: float = 0.5,
        retention: timedelta | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._poll_seconds = poll_seconds
        self._retention = retention
        self._clock = clock
        self._listeners: dict[object, Listener] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._since = clock() - POLL_OVERLAP

    @property
    def store(self) -> EventStore:
        return self._store

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` (synchronously, on the event loop; it must not raise) for each new notice."""
        token = object()
        self._listeners[token] = listener

        def unsubscribe() -> None:
            self._listeners.pop(token, None)

        return unsubscribe

    def publish(self, notice: EventNotice) -> bool:
        """Tell the listeners, unless this replica already did; True when they were told."""
        if notice.event_id in self._seen:
            return False
        self._seen[notice.event_id] = None
        while len(self._seen) > _SEEN_MAX:
            self._seen.popitem(last=False)
        for listener in list(self._listeners.values()):
            try:
                listener(notice)
            except Exception:  # one broken listener must not starve the others
                _log.exception("event listener failed")
        return True

    async def poll_once(self) -> int:
        """Publish what the store received since the last look; returns how many notices were new."""
        started = self._clock()
        notices = await self._store.received_since(self._since - POLL_OVERLAP)
        self._since = started
        return sum(self.publish(notice) for notice in notices)

    async def run(self) -> None:
        """Poll until cancelled; purge past retention now and then. Store errors are logged, not fatal."""
        last_purge = 0.0
        while True:
            try:
                await self.poll_once()
                if self._retention is not None and time.monotonic() - last_purge > PURGE_EVERY_SECONDS:
                    last_purge = time.monotonic()
                    removed = await self._store.purge(self._clock() - self._retention)
                    if removed:
                        _log.info("events.purged", removed=removed)
            except Exception as exc:
                _log.warning("events.poll_failed", error_type=type(exc).__name__)
            await anyio.sleep(self._poll_seconds)

    async def wait_for(
        self,
        object_id: str,
        *,
        environment: str,
        names: Collection[str] = (),
        created_after: datetime | None = None,
        timeout: float,
    ) -> EventNotice | None:
        """The first event about `object_id` (named one of `names`, if given) created after
        `created_after`: one already stored, else the first to arrive within `timeout` seconds, else None.
        """
        arrived = anyio.Event()
        found: list[EventNotice] = []

        def matches(notice: EventNotice) -> bool:
            return (
                notice.object_id == object_id
                and notice.environment == environment
                and (not names or notice.name in names)
                and (created_after is None or notice.created_at > created_after)
            )

        def listener(notice: EventNotice) -> None:
            if not found and matches(notice):
                found.append(notice)
                arrived.set()

        unsubscribe = self.subscribe(listener)  # before the look-up, so nothing falls in between
        try:
            page = await self._store.page(
                environment=environment,
                object_id=object_id,
                names=list(names),
                created_after=created_after,
                limit=1,
            )
            if page.events:
                return page.events[0].notice()
            with anyio.move_on_after(timeout):
                await arrived.wait()
            return found[0] if found else None
        finally:
            unsubscribe()
