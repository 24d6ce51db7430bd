"""The webhook receiver accepts only what Persona signed, stores each event once, and audits every receipt."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.config import Environment
from persona_mcp.events.endpoints import EndpointSecret
from persona_mcp.events.signature import signature_header

from ._support import SECRET, event_body, receiver

pytestmark = pytest.mark.anyio


async def test_a_signed_delivery_is_stored_and_its_receipt_audited_without_personal_data(
    tmp_path: Path, database_url: str
) -> None:
    async with receiver(tmp_path, database_url=database_url) as rx:
        response = await rx.deliver(event_body("evt_Accepted0001", name_first="Zelda"))
        assert response.status_code == 200
        assert response.json() == {"received": True, "event_id": "evt_Accepted0001", "duplicate": False}
        stored = await rx.app.events.store.get("evt_Accepted0001", environment="sandbox")
        assert stored is not None and stored.object_id == "inq_ReceiverTest000001"
        assert stored.payload is not None  # kept, encrypted at rest (see test_event_store)
        (receipt,) = await rx.receipts()
        assert receipt.kind == "admin.webhook.received" and receipt.decision == "allowed"
        assert receipt.object_ids == ["evt_Accepted0001", "inq_ReceiverTest000001"]
        assert receipt.details is not None and receipt.details["event_name"] == "inquiry.completed"
        text = receipt.model_dump_json()
        assert "Zelda" not in text and "203.0.113.9" not in text  # the sender's address is digested


async def test_a_wrong_signature_is_refused_audited_and_not_stored(tmp_path: Path) -> None:
    async with receiver(tmp_path) as rx:
        response = await rx.deliver(event_body("evt_WrongSig0001"), secrets=["wbhsec_not-the-secret"])
        assert response.status_code == 401
        assert await rx.app.events.store.get("evt_WrongSig0001", environment="sandbox") is None
        (receipt,) = await rx.receipts()
        assert receipt.kind == "admin.webhook.refused" and receipt.decision == "denied"
        assert receipt.reason == "signature mismatch"


async def test_a_body_altered_after_signing_is_refused(tmp_path: Path) -> None:
    async with receiver(tmp_path) as rx:
        stamp = int(time.time())
        header = signature_header([SECRET], stamp, event_body("evt_Altered00001"))
        response = await rx.deliver(event_body("evt_Altered00001", name_first="Mallory"), header=header)
        assert response.status_code == 401
        assert [r.reason for r in await rx.receipts()] == ["signature mismatch"]


async def test_a_stale_timestamp_is_refused_and_audited(tmp_path: Path) -> None:
    async with receiver(tmp_path) as rx:
        stale = int(time.time()) - 301
        response = await rx.deliver(event_body("evt_Stale0000001"), timestamp=stale)
        assert response.status_code == 401
        assert await rx.app.events.store.get("evt_Stale0000001", environment="sandbox") is None
        (receipt,) = await rx.receipts()
        assert receipt.decision == "denied" and receipt.reason == "stale timestamp (outside 300 s)"


async def test_the_tolerance_is_a_setting(tmp_path: Path) -> None:
    async with receiver(tmp_path, signature_tolerance_seconds=30) as rx:
        response = await rx.deliver(event_body("evt_Tolerance001"), timestamp=int(time.time()) - 60)
        assert response.status_code == 401


async def test_a_replayed_delivery_is_stored_once_and_each_receipt_audited(
    tmp_path: Path, database_url: str
) -> None:
    async with receiver(tmp_path, database_url=database_url) as rx:
        body = event_body("evt_Replayed0001")
        first = await rx.deliver(body)
        again = await rx.deliver(body)  # the same signed bytes, within the tolerance
        assert first.status_code == again.status_code == 200  # Persona must stop retrying
        assert again.json()["duplicate"] is True
        assert await rx.app.events.store.count() == 1
        receipts = await rx.receipts()
        assert [r.reason for r in receipts] == [None, "duplicate delivery (already stored)"]


async def test_during_rotation_the_old_secret_verifies_until_it_expires(tmp_path: Path) -> None:
    old, new = "wbhsec_old-secret", "wbhsec_new-secret"
    soon = datetime.now(UTC) + timedelta(hours=1)
    async with receiver(tmp_path, secrets=[EndpointSecret(new), EndpointSecret(old, soon)]) as rx:
        # Persona signs with both during a rotation: two pairs, each tried.
        both = await rx.deliver(event_body("evt_Rotation0001"), secrets=[new, old])
        only_old = await rx.deliver(event_body("evt_Rotation0002"), secrets=[old])
        assert both.status_code == only_old.status_code == 200

        # Its expires-at passes (Persona's rotate-secret said so): the old secret verifies nothing.
        past = datetime.now(UTC) - timedelta(seconds=1)
        await rx.app.events.endpoints.save(
            endpoint_id=rx.endpoint_id,
            environment=Environment.SANDBOX,
            secrets=[EndpointSecret(new), EndpointSecret(old, past)],
            actor="test",
        )
        expired = await rx.deliver(event_body("evt_Rotation0003"), secrets=[old])
        assert expired.status_code == 401
        still_new = await rx.deliver(event_body("evt_Rotation0004"), secrets=[new])
        assert still_new.status_code == 200
        reasons = [r.reason for r in await rx.receipts()]
        assert reasons == [None, None, "signature mismatch", None]


async def test_an_oversized_body_is_refused_unread_and_audited(tmp_path: Path) -> None:
    async with receiver(tmp_path, max_body_bytes=4096) as rx:
        body = event_body("evt_Oversized001", name_first="x" * 5000)
        response = await rx.deliver(body)
        assert response.status_code == 413
        assert await rx.app.events.store.get("evt_Oversized001", environment="sandbox") is None
        (receipt,) = await rx.receipts()
        assert receipt.decision == "denied" and receipt.reason == "body larger than 4096 bytes"


async def test_an_unknown_endpoint_and_a_verified_non_event_are_refused(tmp_path: Path) -> None:
    async with receiver(tmp_path) as rx:
        unknown = await rx.deliver(event_body("evt_Unknown00001"), endpoint_id="whe_0123456789abcdef01234567")
        assert unknown.status_code == 404
        not_event = await rx.deliver(json.dumps({"data": {"id": "x"}}).encode())
        assert not_event.status_code == 400
        reasons = [r.reason for r in await rx.receipts()]
        assert reasons == ["unknown endpoint", "not a Persona event: data.id is not an event id (evt_...)"]


async def test_forged_deliveries_make_at_most_one_secret_refresh_per_minute(tmp_path: Path) -> None:
    async with receiver(tmp_path) as rx:
        assert rx.app.events.receiver.refresh is not None
        # Connect the endpoint to the demo sandbox's webhook, as `webhooks connect --webhook-id` would.
        (demo_webhook,) = [r.id for r in rx.sandbox.records.values() if r.type == "webhook"]
        await rx.app.events.endpoints.save(
            endpoint_id=rx.endpoint_id,
            environment=Environment.SANDBOX,
            secrets=[EndpointSecret(SECRET)],
            actor="test",
            webhook_id=demo_webhook,
        )
        for i in range(3):
            forged = await rx.deliver(event_body(f"evt_Forged00000{i}"), secrets=["wbhsec_forger"])
            assert forged.status_code == 401
        records = [r async for r in iter_records(rx.app.store, AuditFilter())]
        refreshed = [r for r in records if r.actor == "persona-webhook-rotation"]
        assert len(refreshed) == 1  # one look at Persona, then none for a minute
        assert [r.reason for r in await rx.receipts()] == ["signature mismatch"] * 3
