"""`credentials rotate-key` also re-seals the webhook secrets and kept payloads: the old key can go."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from persona_mcp.auth.credentials.secretbox import SecretBox, generate_key
from persona_mcp.config import Environment
from persona_mcp.events.endpoints import EndpointSecret, EndpointStore
from persona_mcp.events.store import EventStore, read_event
from persona_mcp.store import create_store, upgrade

from ._support import event_body

pytestmark = pytest.mark.anyio


async def test_resealed_endpoints_and_payloads_open_with_the_new_key_alone(tmp_path: Path) -> None:
    old_key, new_key = generate_key(), generate_key()
    old_box = SecretBox.from_keys(old_key)
    rotating = SecretBox.from_keys(new_key, old_key)
    new_only = SecretBox.from_keys(new_key)
    store = create_store(f"sqlite+aiosqlite:///{tmp_path / 'keys.sqlite3'}")
    try:
        await upgrade(store)
        endpoint_id = await EndpointStore(store, old_box).save(
            environment=Environment.SANDBOX, secrets=[EndpointSecret("wbhsec_x")], actor="test"
        )
        event = read_event(json.loads(event_body("evt_Sealed000001", name_first="Zelda")))
        await EventStore(store, old_box).record(
            event, endpoint_id=endpoint_id, environment="sandbox", received_at=datetime.now(UTC)
        )

        assert await EndpointStore(store, rotating).reseal(rotating) == 1
        assert await EventStore(store, rotating).reseal(rotating) == 1

        endpoint = await EndpointStore(store, new_only).get(endpoint_id)
        assert endpoint is not None and endpoint.valid_secrets(datetime.now(UTC)) == ["wbhsec_x"]
        stored = await EventStore(store, new_only).get("evt_Sealed000001", environment="sandbox")
        assert stored is not None and "Zelda" in json.dumps(stored.payload)
    finally:
        await store.close()
