"""The emulated environment's state: objects, events, counters, idempotency cache and fault settings."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from persona_mcp.sandbox.clock import now_iso
from persona_mcp.sandbox.errors import not_found
from persona_mcp.sandbox.faults import FaultInjector, Faults
from persona_mcp.sandbox.idempotency import IdempotencyCache
from persona_mcp.sandbox.ids import IdFactory
from persona_mcp.sandbox.records import Record

if TYPE_CHECKING:
    from persona_mcp.sandbox.delivery import WebhookDeliverer


class SandboxState:
    """Everything one sandbox app knows, reachable in process as `app.state.sandbox`.

    Handlers run one at a time under `lock`, so a request sees and leaves a consistent state even when
    many run concurrently on the event loop.
    """

    def __init__(
        self,
        faults: Faults,
        rng_seed: int,
        seeder: Callable[[SandboxState], None] | None,
        *,
        report_ticks: int = 2,
    ) -> None:
        self.faults = faults
        #: How many API requests a report run takes on the simulation clock before it is ready.
        self.report_ticks = report_ticks
        self._configured_faults = Faults(**faults.to_json())
        self.rng_seed = rng_seed
        self.lock = asyncio.Lock()
        self._seeder = seeder
        #: Sends events to enabled webhooks when the sandbox is built with webhook delivery on.
        self.deliverer: WebhookDeliverer | None = None
        self.reset()

    def reset(self) -> None:
        """Forget every object, event, counter and stored idempotent answer; re-apply the seed data.

        Fault settings go back to those the app was built with, in place (the same `Faults` object stays
        attached) so that a test's reference to `state.faults` keeps working.
        """
        self.ids = IdFactory(self.rng_seed)
        self.records: dict[str, Record] = {}
        self.events: list[Record] = []
        self.counters: Counter[str] = Counter()
        self.idempotency = IdempotencyCache()
        self._created: Counter[str] = Counter()
        self.tag_ids: dict[str, str] = {}
        #: Account id by reference id, as last set; a look-up checks the account still holds it.
        self.account_references: dict[str, str] = {}
        self._seq = 0
        self.ticks = 0
        self._due: list[tuple[int, int, Callable[[SandboxState], None]]] = []
        self.faults.update(self._configured_faults.to_json())
        self.injector = FaultInjector(self.faults, self.rng_seed)
        if self._seeder is not None:
            self._seeder(self)

    # -- objects --------------------------------------------------------------------------------------

    def add(
        self,
        prefix: str,
        type_: str,
        attributes: dict[str, Any],
        relationships: dict[str, Any] | None = None,
        **internal: Any,
    ) -> Record:
        return self.add_with_id(self.ids.new(prefix), type_, attributes, relationships, internal)

    def add_with_id(
        self,
        object_id: str,
        type_: str,
        attributes: dict[str, Any],
        relationships: dict[str, Any] | None = None,
        internal: dict[str, Any] | None = None,
    ) -> Record:
        """A new object with a given id (seed data whose ids tests and docs name)."""
        self._seq += 1
        record = Record(object_id, type_, self._seq, attributes, relationships, dict(internal or {}))
        self.records[record.id] = record
        self._created[type_] += 1
        return record

    def get(self, object_id: str, kind: str, *, type_prefix: str | None = None) -> Record:
        """The record with this id whose type is `kind` or starts with `type_prefix`; 404 otherwise."""
        record = self.records.get(object_id)
        if record is None or not (
            record.type == kind or (type_prefix and record.type.startswith(type_prefix))
        ):
            raise not_found(kind, object_id)
        return record

    def of_type(self, predicate: Callable[[Record], bool]) -> list[Record]:
        """Matching records, newest first."""
        return sorted((r for r in self.records.values() if predicate(r)), key=lambda r: r.seq, reverse=True)

    def created_count(self, type_: str) -> int:
        """How many objects of this JSON:API type were ever created (seed data included).

        A family name counts all its subtypes: `created_count("list-item")` covers every list-item kind.
        """
        return sum(n for kind, n in self._created.items() if kind == type_ or kind.startswith(f"{type_}/"))

    def tag_id(self, name: str) -> str:
        """The stable `tag_...` id of a tag name, minted on first use."""
        for tag_id, known in self.tag_ids.items():
            if known == name:
                return tag_id
        tag_id = self.ids.new("tag")
        self.tag_ids[tag_id] = name
        return tag_id

    # -- simulation clock -------------------------------------------------------------------------------

    def schedule(self, after_ticks: int, action: Callable[[SandboxState], None]) -> None:
        """Run `action` once the clock has advanced `after_ticks` more requests (0: on the next one).

        The sandbox's clock counts API requests, not seconds: what Persona finishes in the background
        (a report run) finishes here after a fixed number of later requests, so a test that polls sees the
        same sequence every time and never waits on wall-clock time.
        """
        self._seq += 1
        self._due.append((self.ticks + after_ticks, self._seq, action))

    def tick(self) -> None:
        """Advance the clock by one request and run what has come due, in the order it was scheduled."""
        self.ticks += 1
        due = sorted((e for e in self._due if e[0] <= self.ticks), key=lambda e: (e[0], e[1]))
        self._due = [entry for entry in self._due if entry[0] > self.ticks]
        for _when, _order, action in due:
            action(self)

    # -- events ---------------------------------------------------------------------------------------

    def emit(self, name: str, subject: Record, context: dict[str, Any] | None = None) -> Record:
        """Record an event carrying the subject as it is now (Persona's event object shape)."""
        self._seq += 1
        attributes: dict[str, Any] = {
            "name": name,
            "payload": {"data": subject.resource()},
            "created-at": now_iso(),
        }
        if context:
            attributes["context"] = context
        event = Record(self.ids.new("evt"), "event", self._seq, attributes, None, {"object-id": subject.id})
        self.events.append(event)
        self.records[event.id] = event
        self._created["event"] += 1
        if self.deliverer is not None:
            self.deliverer.on_event(event)
        return event

    def events_named(self, names: Iterable[str]) -> list[Record]:
        wanted = set(names)
        return [e for e in self.events if e.attributes["name"] in wanted]
