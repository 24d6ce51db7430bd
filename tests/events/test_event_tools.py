"""list_events and get_event read the events the receiver kept, past Persona's retention, under the
same grant and masking rules as everything else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client
from sqlalchemy import select

from persona_mcp.pii import MASK
from persona_mcp.store.schema.events import webhook_events

from ._support import event_body, receiver

pytestmark = pytest.mark.anyio

INQUIRY = "inq_ReceiverTest000001"
OTHER = "inq_SomeoneElse0000001"


async def _deliver_out_of_order(rx: object) -> None:
    # Arrival order differs from Persona's created-at order (retries and reordering do that).
    for event_id, created, name, about in [
        ("evt_Third0000001", "2025-03-03T00:00:00.000Z", "inquiry.approved", INQUIRY),
        ("evt_First0000001", "2025-01-01T00:00:00.000Z", "inquiry.created", INQUIRY),
        ("evt_Other0000001", "2025-02-15T00:00:00.000Z", "inquiry.created", OTHER),
        ("evt_Second000001", "2025-02-02T00:00:00.000Z", "inquiry.completed", INQUIRY),
    ]:
        response = await rx.deliver(  # type: ignore[attr-defined]
            event_body(event_id, created_at=created, name=name, object_id=about)
        )
        assert response.status_code == 200


async def test_local_events_are_listed_by_object_in_created_at_order_page_by_page(tmp_path: Path) -> None:
    async with receiver(tmp_path) as rx:
        await _deliver_out_of_order(rx)
        await rx.grant("events:read")
        async with Client(rx.app.server) as client:
            args = {"source": "local", "object_id": INQUIRY, "page_size": 2}
            first = await client.call_tool("list_events", args)
            assert not first.is_error, first.content
            page = first.structured_content
            assert page is not None
            assert [e["id"] for e in page["items"]] == ["evt_Third0000001", "evt_Second000001"]
            second = await client.call_tool("list_events", {**args, "after": page["next_cursor"]})
            rest = second.structured_content
            assert rest is not None
            assert [e["id"] for e in rest["items"]] == ["evt_First0000001"] and rest.get(
                "next_cursor"
            ) is None

            named = await client.call_tool("list_events", {"source": "local", "name": "inquiry.created"})
            shown = named.structured_content
            assert shown is not None
            assert [e["id"] for e in shown["items"]] == ["evt_Other0000001", "evt_First0000001"]


async def test_get_event_answers_from_the_local_store_what_persona_no_longer_has_masked_without_pii_read(
    tmp_path: Path,
) -> None:
    async with receiver(tmp_path) as rx:
        await rx.deliver(event_body("evt_Expired00001", name_first="Zelda"))
        await rx.grant("events:read")
        async with Client(rx.app.server) as client:
            result = await client.call_tool("get_event", {"event_id": "evt_Expired00001"})
            assert not result.is_error, result.content
            data = result.structured_content
            assert data is not None and data["name"] == "inquiry.completed"
            assert data["payload"] == MASK or "Zelda" not in json.dumps(data)
        await rx.grant("events:read", "pii:read")
        async with Client(rx.app.server) as client:
            result = await client.call_tool("get_event", {"event_id": "evt_Expired00001"})
            assert "Zelda" in json.dumps(result.structured_content)


async def test_an_event_nobody_has_is_still_not_found_and_a_foreign_cursor_is_refused(tmp_path: Path) -> None:
    async with receiver(tmp_path) as rx:
        await rx.grant("events:read")
        async with Client(rx.app.server) as client:
            missing = await client.call_tool("get_event", {"event_id": "evt_Nowhere000001"})
            assert missing.is_error
            foreign = await client.call_tool("list_events", {"source": "local", "after": "evt_Nowhere000001"})
            assert foreign.is_error


async def test_payloads_are_not_kept_when_the_setting_says_none(tmp_path: Path) -> None:
    async with receiver(tmp_path, payload_storage="none") as rx:
        await rx.deliver(event_body("evt_NoPayload0001", name_first="Zelda"))
        stored = await rx.app.events.store.get("evt_NoPayload0001", environment="sandbox")
        assert stored is not None and stored.payload is None and stored.name == "inquiry.completed"
        await rx.grant("events:read", "pii:read")
        async with Client(rx.app.server) as client:
            result = await client.call_tool("get_event", {"event_id": "evt_NoPayload0001"})
            assert not result.is_error and "Zelda" not in json.dumps(result.structured_content)


async def test_payloads_are_encrypted_at_rest(tmp_path: Path) -> None:
    async with receiver(tmp_path) as rx:
        await rx.deliver(event_body("evt_AtRest000001", name_first="Zelda"))
        async with rx.app.store.engine.connect() as conn:
            (row,) = (await conn.execute(select(webhook_events))).all()
        assert row.payload is not None and b"Zelda" not in row.payload and b"inquiry" not in row.payload
