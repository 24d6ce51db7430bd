"""The hub: waiters and subscribers hear of each event once per replica, whichever replica stored it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from persona_mcp.events.hub import EventHub
from persona_mcp.events.store import EventNotice, EventStore, read_event
from persona_mcp.store import create_store, upgrade

from ._support import event_body, receiver

pytestmark = pytest.mark.anyio

INQUIRY = "inq_ReceiverTest000001"


async def test_wait_for_wakes_on_the_matching_event_only(tmp_path: Path) -> None:
    async with receiver(tmp_path) as rx:
        hub = rx.app.events.hub
        found: list[EventNotice | None] = []

        async def wait() -> None:
            found.append(
                await hub.wait_for(INQUIRY, environment="sandbox", names=["inquiry.approved"], timeout=30)
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await anyio.wait_all_tasks_blocked()
            await rx.deliver(event_body("evt_NotYet000001", name="inquiry.completed"))
            await rx.deliver(
                event_body("evt_Other0000001", name="inquiry.approved", object_id="inq_Else00000001")
            )
            assert found == []
            await rx.deliver(event_body("evt_Approved0001", name="inquiry.approved"))
        (notice,) = found
        assert notice is not None and notice.event_id == "evt_Approved0001"


async def test_wait_for_answers_from_the_store_and_gives_up_at_its_deadline(tmp_path: Path) -> None:
    async with receiver(tmp_path) as rx:
        hub = rx.app.events.hub
        await rx.deliver(event_body("evt_Already00001", created_at="2026-01-02T00:00:00.000Z"))
        stored = await hub.wait_for(INQUIRY, environment="sandbox", timeout=0)
        assert stored is not None and stored.event_id == "evt_Already00001"
        later = datetime(2026, 1, 3, tzinfo=UTC)
        assert await hub.wait_for(INQUIRY, environment="sandbox", created_after=later, timeout=0.05) is None
        assert await hub.wait_for(INQUIRY, environment="production", timeout=0.05) is None


async def test_polling_publishes_what_another_replica_stored_once(tmp_path: Path) -> None:
    store = create_store(f"sqlite+aiosqlite:///{tmp_path / 'shared.sqlite3'}")
    try:
        await upgrade(store)
        this_replica = EventHub(EventStore(store, None, payloads="none"), poll_seconds=0.05)
        heard: list[str] = []
        this_replica.subscribe(lambda notice: heard.append(notice.event_id))
        other_replica = EventStore(store, None, payloads="none")
        event = read_event(json.loads(event_body("evt_Elsewhere001")))
        stored = await other_replica.record(
            event,
            endpoint_id="whe_0123456789abcdef01234567",
            environment="sandbox",
            received_at=datetime.now(UTC),
        )
        assert stored
        assert await this_replica.poll_once() == 1
        assert await this_replica.poll_once() == 0  # within the overlap, but already published
        assert heard == ["evt_Elsewhere001"]
    finally:
        await store.close()


async def test_events_past_retention_are_purged(database_url: str) -> None:
    store = create_store(database_url)
    try:
        await upgrade(store)
        events = EventStore(store, None, payloads="none")
        now = datetime.now(UTC)
        for event_id, age_days in (("evt_Old00000001", 500), ("evt_Young0000001", 10)):
            event = read_event(json.loads(event_body(event_id)))
            await events.record(
                event,
                endpoint_id="whe_0123456789abcdef01234567",
                environment="sandbox",
                received_at=now - timedelta(days=age_days),
            )
        assert await events.purge(now - timedelta(days=400)) == 1
        assert await events.get("evt_Old00000001", environment="sandbox") is None
        assert await events.get("evt_Young0000001", environment="sandbox") is not None
    finally:
        await store.close()


async def test_tools_are_handed_a_wait_bound_to_their_callers_environment(tmp_path: Path) -> None:
    async with receiver(tmp_path) as rx:
        sandbox_view = rx.app.events.for_environment("sandbox")
        production_view = rx.app.events.for_environment("production")
        await rx.deliver(event_body("evt_ForTools00001"))
        found = await sandbox_view.wait_for(INQUIRY, names=["inquiry.completed"], timeout=0)
        assert found is not None and found.event_id == "evt_ForTools00001"
        assert await production_view.wait_for(INQUIRY, timeout=0.05) is None
