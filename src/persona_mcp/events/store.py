"""The event store: every verified event once, ordered by Persona's `created-at`, kept past Persona's
retention.

Persona delivers at least once and in no particular order, so an event is keyed by its id (`evt_...`):
a retried, replayed or duplicated delivery, received by this replica or another one sharing the
database, inserts nothing (`INSERT ... ON CONFLICT DO NOTHING`, atomic on SQLite and PostgreSQL).
Listing orders by `created-at`, never by arrival. The payload (the object as it was, personal data
included) is sealed with the server's `SecretBox`, bound to the event id, or not kept at all.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import anyio
from sqlalchemy import and_, delete, func, or_, select, update

from persona_mcp.auth.credentials.secretbox import SecretBox, associated_data
from persona_mcp.store import Store
from persona_mcp.store.schema.events import webhook_events

PayloadStorage = Literal["encrypted", "none"]
MAX_PAGE = 100
#: Deliveries committed in one transaction at most.
MAX_BATCH = 200


class MalformedEvent(ValueError):
    """A verified body that is not a Persona event object; the message names what is wrong."""


@dataclass(frozen=True, slots=True)
class EventNotice:
    """What subscribers and waiters are told: which event, about which object (no payload)."""

    event_id: str
    name: str
    object_id: str | None
    environment: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as the store holds it; `payload` is None when payloads are not kept."""

    event_id: str
    name: str
    object_id: str | None
    object_type: str | None
    environment: str
    created_at: datetime
    received_at: datetime
    payload: dict[str, Any] | None

    def notice(self) -> EventNotice:
        return EventNotice(self.event_id, self.name, self.object_id, self.environment, self.created_at)


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """The fields of a delivered event object the store needs, read from any key inflection."""

    event_id: str
    name: str
    created_at: datetime
    object_id: str | None
    object_type: str | None
    document: dict[str, Any]


def _pick(mapping: Mapping[str, Any], kebab: str) -> Any:
    """A key in the webhook's inflection: kebab (default), snake or camel."""
    head, *rest = kebab.split("-")
    for key in (kebab, kebab.replace("-", "_"), head + "".join(p.capitalize() for p in rest)):
        if key in mapping:
            return mapping[key]
    return None


def parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def read_event(body: Any) -> IncomingEvent:
    """The event a delivery carries (`{"data": {"type": "event", "id": "evt_...", ...}}`)."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise MalformedEvent("body has no data object")
    event_id = data.get("id")
    if not isinstance(event_id, str) or not event_id.startswith("evt_") or not 4 < len(event_id) <= 64:
        raise MalformedEvent("data.id is not an event id (evt_...)")
    if not all(c.isalnum() or c in "_-" for c in event_id):
        raise MalformedEvent("data.id is not an event id (evt_...)")
    attributes = data.get("attributes")
    if not isinstance(attributes, dict):
        raise MalformedEvent("data.attributes is missing")
    name = attributes.get("name")
    if not isinstance(name, str) or not name or len(name) > 128:
        raise MalformedEvent("data.attributes.name is missing")
    created_at = parse_time(_pick(attributes, "created-at"))
    if created_at is None:
        raise MalformedEvent("data.attributes.created-at is missing or not ISO 8601")
    subject = (
        (attributes.get("payload") or {}).get("data") if isinstance(attributes.get("payload"), dict) else None
    )
    object_id = subject.get("id") if isinstance(subject, dict) else None
    object_type = subject.get("type") if isinstance(subject, dict) else None
    return IncomingEvent(
        event_id=event_id,
        name=name,
        created_at=created_at,
        object_id=object_id if isinstance(object_id, str) and len(object_id) <= 64 else None,
        object_type=object_type if isinstance(object_type, str) else None,
        document=data,
    )


def _aad(event_id: str, environment: str) -> bytes:
    return associated_data("webhook_event", event_id, environment, "payload")


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[StoredEvent]
    next_cursor: str | None


class UnknownCursor(LookupError):
    """The `after` cursor names no stored event of this listing's environment."""


class EventStore:
    """Insert-once, list by object and name, newest `created-at` first, purge past retention."""

    def __init__(
        self, store: Store, box: SecretBox | None, *, payloads: PayloadStorage = "encrypted"
    ) -> None:
        if payloads == "encrypted" and box is None:
            raise ValueError("encrypted payload storage needs the secret box")
        self._store = store
        self._box = box
        self._payloads = payloads
        # Group commit: deliveries arriving while a batch commits wait for the next batch together.
        self._waiting: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        self._committing = False

    @property
    def store(self) -> Store:
        return self._store

    async def record(
        self, event: IncomingEvent, *, endpoint_id: str, environment: str, received_at: datetime
    ) -> bool:
        """Store the event unless it is already stored; True when this call stored it."""
        payload = key_id = None
        if self._payloads == "encrypted" and self._box is not None:
            payload = self._box.seal(
                json.dumps(event.document, separators=(",", ":")), _aad(event.event_id, environment)
            )
            key_id = self._box.current_key_id
        values = {
            "event_id": event.event_id,
            "endpoint_id": endpoint_id,
            "environment": environment,
            "name": event.name,
            "object_id": event.object_id,
            "created_at": event.created_at,
            "received_at": received_at,
            "key_id": key_id,
            "payload": payload,
        }
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((values, future))
        if not self._committing:
            self._committing = True
            try:
                # Shielded: the others' deliveries wait on this loop, whatever happens to this one.
                with anyio.CancelScope(shield=True):
                    while self._waiting:
                        batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                        await self._commit(batch)
            finally:
                self._committing = False
        return await future

    async def _commit(self, batch: list[tuple[dict[str, Any], asyncio.Future[bool]]]) -> None:
        """One transaction for the batch: each future learns whether its event was new (the first of
        two copies in one batch is the one stored), or gets the store's error."""
        try:
            statement = (
                self._store.insert(webhook_events)
                .values([values for values, _ in batch])
                .on_conflict_do_nothing(index_elements=["event_id"])
                .returning(webhook_events.c.event_id)
            )
            async with self._store.engine.begin() as conn:
                # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT DO NOTHING.
                inserted = set((await conn.execute(statement)).scalars())
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for values, future in batch:
            new = values["event_id"] in inserted
            inserted.discard(values["event_id"])
            if not future.done():
                future.set_result(new)

    def _stored(self, row: Any) -> StoredEvent:
        payload = None
        if row.payload is not None and row.key_id is not None and self._box is not None:
            payload = json.loads(self._box.open(row.key_id, row.payload, _aad(row.event_id, row.environment)))
        object_type = None
        if isinstance(payload, dict):
            subject = (payload.get("attributes") or {}).get("payload", {}).get("data")
            object_type = subject.get("type") if isinstance(subject, dict) else None
        return StoredEvent(
            event_id=row.event_id,
            name=row.name,
            object_id=row.object_id,
            object_type=object_type,
            environment=row.environment,
            created_at=row.created_at,
            received_at=row.received_at,
            payload=payload,
        )

    async def get(self, event_id: str, *, environment: str) -> StoredEvent | None:
        async with self._store.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(webhook_events).where(
                        webhook_events.c.event_id == event_id, webhook_events.c.environment == environment
                    )
                )
            ).first()
        return self._stored(row) if row is not None else None

    async def page(
        self,
        *,
        environment: str,
        object_id: str | None = None,
        names: Sequence[str] = (),
        created_after: datetime | None = None,
        limit: int = 25,
        cursor: str | None = None,
    ) -> EventPage:
        """Events newest `created-at` first (event id breaks ties), one page at a time.

        `cursor` is the id of the last event of the previous page (the shape Persona's cursors have).
        """
        limit = max(1, min(limit, MAX_PAGE))
        c = webhook_events.c
        query = select(webhook_events).where(c.environment == environment)
        if object_id is not None:
            query = query.where(c.object_id == object_id)
        if names:
            query = query.where(c.name.in_(list(names)))
        if created_after is not None:
            query = query.where(c.created_at > created_after)
        query = query.order_by(c.created_at.desc(), c.event_id.desc()).limit(limit + 1)
        async with self._store.engine.connect() as conn:
            if cursor is not None:
                moment = await conn.scalar(
                    select(c.created_at).where(c.event_id == cursor, c.environment == environment)
                )
                if moment is None:
                    raise UnknownCursor(f"no stored event {cursor}")
                query = query.where(
                    or_(c.created_at < moment, and_(c.created_at == moment, c.event_id < cursor))
                )
            rows = (await conn.execute(query)).all()
        events = [self._stored(row) for row in rows[:limit]]
        return EventPage(events, events[-1].event_id if len(rows) > limit and events else None)

    async def received_since(self, moment: datetime, *, limit: int = 1000) -> list[EventNotice]:
        """Notices of events any replica received at or after `moment` (the cross-replica poll)."""
        c = webhook_events.c
        query = (
            select(c.event_id, c.name, c.object_id, c.environment, c.created_at)
            .where(c.received_at >= moment)
            .order_by(c.received_at)
            .limit(limit)
        )
        async with self._store.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [EventNotice(r.event_id, r.name, r.object_id, r.environment, r.created_at) for r in rows]

    async def count(self) -> int:
        async with self._store.engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(webhook_events)) or 0)

    async def reseal(self, new_box: SecretBox) -> int:
        """Re-encrypt every kept payload under `new_box`'s current key (`credentials rotate-key`);
        `new_box` holds the old key too. Returns the rows changed."""
        c = webhook_events.c
        target = new_box.current_key_id
        changed = 0
        while True:
            async with self._store.engine.connect() as conn:
                rows = (
                    await conn.execute(
                        select(c.event_id, c.environment, c.key_id, c.payload)
                        .where(c.payload.is_not(None), c.key_id != target)
                        .limit(500)
                    )
                ).all()
            if not rows:
                return changed
            async with self._store.engine.begin() as conn:
                for row in rows:
                    aad = _aad(row.event_id, row.environment)
                    sealed = new_box.seal(new_box.open(row.key_id, row.payload, aad), aad)
                    await conn.execute(
                        update(webhook_events)
                        .where(c.event_id == row.event_id, c.key_id == row.key_id)
                        .values(key_id=target, payload=sealed)
                    )
            changed += len(rows)

    async def purge(self, received_before: datetime) -> int:
        """Delete events received before `received_before` (past retention); returns how many."""
        statement = (
            delete(webhook_events)
            .where(webhook_events.c.received_at < received_before)
            .returning(webhook_events.c.event_id)
        )
        async with self._store.engine.begin() as conn:
            return len((await conn.execute(statement)).all())


class Waiter(Protocol):
    async def wait_for(
        self,
        object_id: str,
        *,
        environment: str,
        names: Collection[str] = (),
        created_after: datetime | None = None,
        timeout: float,
    ) -> EventNotice | None: ...


class EnvironmentEvents:
    """The store as one environment's callers see it (what tools are handed as `ToolContext.events`):
    stored events to read, and, with the hub, a wait for the next event about an object."""

    def __init__(self, store: EventStore, environment: str, hub: Waiter | None = None) -> None:
        self._store = store
        self._hub = hub
        self.environment = environment

    async def wait_for(
        self,
        object_id: str,
        *,
        names: Collection[str] = (),
        created_after: datetime | None = None,
        timeout: float,
    ) -> EventNotice | None:
        """The first event about `object_id` (one of `names`) created after `created_after`, already
        stored or verified before `timeout` seconds pass on any replica; None at the deadline."""
        if self._hub is None:
            raise RuntimeError("waiting for events needs the server's event hub")
        return await self._hub.wait_for(
            object_id, environment=self.environment, names=names, created_after=created_after, timeout=timeout
        )

    async def get(self, event_id: str) -> StoredEvent | None:
        return await self._store.get(event_id, environment=self.environment)

    async def page(
        self,
        *,
        object_id: str | None = None,
        names: Sequence[str] = (),
        limit: int = 25,
        cursor: str | None = None,
    ) -> EventPage:
        return await self._store.page(
            environment=self.environment, object_id=object_id, names=names, limit=limit, cursor=cursor
        )
