from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from persona_mcp.auth.credentials import (
    ClientAuthMethod,
    CredentialKind,
    CredentialNotFoundError,
    CredentialStore,
    SecretBox,
)
from persona_mcp.auth.credentials.secretbox import DecryptionError, generate_key
from persona_mcp.auth.environment import Environment
from persona_mcp.store import Store
from persona_mcp.store.schema.credentials import credentials as table

from ._support import RecordingSink

pytestmark = pytest.mark.anyio


async def test_an_api_key_round_trips_and_is_sealed_in_the_row(
    credential_store: CredentialStore, store: Store, sink: RecordingSink
) -> None:
    info = await credential_store.add_api_key(
        Environment.SANDBOX, SecretStr("persona_sandbox_round_trip"), actor="cli:test"
    )
    loaded = await credential_store.load(info.id)
    assert loaded is not None
    assert loaded.secret.get_secret_value() == "persona_sandbox_round_trip"
    async with store.engine.connect() as conn:
        raw = (await conn.execute(select(table.c.secret).where(table.c.id == info.id))).scalar_one()
    assert b"persona_sandbox_round_trip" not in bytes(raw)
    assert sink.actions() == ["credential.added"]
    assert "persona_sandbox_round_trip" not in repr(sink.events)


async def test_a_principal_credential_wins_over_the_environment_default(
    credential_store: CredentialStore,
) -> None:
    default = await credential_store.add_api_key(Environment.SANDBOX, SecretStr("k_default"), actor="t")
    alice = await credential_store.add_api_key(
        Environment.SANDBOX, SecretStr("k_alice"), principal="alice", actor="t"
    )
    found_alice = await credential_store.find(Environment.SANDBOX, "alice")
    found_bob = await credential_store.find(Environment.SANDBOX, "bob")
    assert found_alice is not None and found_alice.id == alice.id
    assert found_bob is not None and found_bob.id == default.id


async def test_a_row_for_one_environment_is_never_found_for_the_other(
    credential_store: CredentialStore,
) -> None:
    await credential_store.add_api_key(Environment.PRODUCTION, SecretStr("k_prod"), actor="t")
    await credential_store.add_api_key(Environment.PRODUCTION, SecretStr("k_p"), principal="alice", actor="t")
    assert await credential_store.find(Environment.SANDBOX, "alice") is None
    assert await credential_store.find(Environment.SANDBOX, "") is None


async def test_adding_for_the_same_slot_replaces_the_previous_credential(
    credential_store: CredentialStore, sink: RecordingSink
) -> None:
    first = await credential_store.add_api_key(Environment.SANDBOX, SecretStr("k1"), actor="t")
    second = await credential_store.add_oauth_client(
        Environment.SANDBOX,
        token_url="https://gw.example/oauth/token",
        client_id="cli_1",
        client_secret=SecretStr("s3cret"),
        auth_method=ClientAuthMethod.CLIENT_SECRET_BASIC,
        actor="t",
    )
    listed = await credential_store.list()
    assert [c.id for c in listed] == [second.id]
    assert listed[0].kind is CredentialKind.OAUTH_CLIENT
    assert sink.events[-1]["details"]["replaces"] == first.id


async def test_a_change_the_audit_log_cannot_record_is_refused(
    credential_store: CredentialStore, sink: RecordingSink
) -> None:
    sink.broken = True
    with pytest.raises(RuntimeError, match="audit log unavailable"):
        await credential_store.add_api_key(Environment.SANDBOX, SecretStr("k1"), actor="t")
    assert await credential_store.list() == []


async def test_removing_a_credential_is_audited_and_an_unknown_id_is_an_error(
    credential_store: CredentialStore, sink: RecordingSink
) -> None:
    info = await credential_store.add_api_key(Environment.SANDBOX, SecretStr("k1"), actor="t")
    await credential_store.remove(info.id, actor="t")
    assert await credential_store.get(info.id) is None
    assert sink.actions() == ["credential.added", "credential.removed"]
    with pytest.raises(CredentialNotFoundError):
        await credential_store.remove(info.id, actor="t")


async def test_secrets_swapped_between_rows_fail_to_open(
    credential_store: CredentialStore, store: Store
) -> None:
    sandbox = await credential_store.add_api_key(Environment.SANDBOX, SecretStr("k_sandbox"), actor="t")
    production = await credential_store.add_api_key(Environment.PRODUCTION, SecretStr("k_prod"), actor="t")
    async with store.engine.begin() as conn:
        prod_secret = (
            await conn.execute(select(table.c.secret).where(table.c.id == production.id))
        ).scalar_one()
        await conn.execute(update(table).where(table.c.id == sandbox.id).values(secret=prod_secret))
    with pytest.raises(DecryptionError):
        await credential_store.load(sandbox.id)


async def test_a_tampered_stored_ciphertext_fails_to_open(
    credential_store: CredentialStore, store: Store
) -> None:
    info = await credential_store.add_api_key(Environment.SANDBOX, SecretStr("k_sandbox"), actor="t")
    async with store.engine.begin() as conn:
        sealed = bytearray(
            (await conn.execute(select(table.c.secret).where(table.c.id == info.id))).scalar_one()
        )
        sealed[20] ^= 0xFF
        await conn.execute(update(table).where(table.c.id == info.id).values(secret=bytes(sealed)))
    with pytest.raises(DecryptionError):
        await credential_store.load(info.id)


async def test_rotating_the_key_reencrypts_every_row_so_the_old_key_is_no_longer_needed(
    store: Store, box: SecretBox, sink: RecordingSink
) -> None:
    credentials = CredentialStore(store, box, events=sink)
    api = await credentials.add_api_key(Environment.SANDBOX, SecretStr("k_sandbox"), actor="t")
    token = await credentials.add_access_token(
        Environment.PRODUCTION,
        SecretStr("at_prod"),
        expires_at=datetime.now(UTC) + timedelta(hours=1),
        actor="t",
    )
    new_key = generate_key()
    rotating = box.with_current(new_key)
    assert await CredentialStore(store, rotating, events=sink).rotate_key(rotating, actor="t") == 2
    assert sink.actions()[-1] == "credentials.key_rotated"
    assert sink.events[-1]["details"] == {"from_key_ids": [box.current_key_id], "rows": 2}

    only_new = CredentialStore(store, SecretBox.from_keys(new_key), events=sink)
    api_loaded = await only_new.load(api.id)
    token_loaded = await only_new.load(token.id)
    assert api_loaded is not None and api_loaded.secret.get_secret_value() == "k_sandbox"
    assert token_loaded is not None and token_loaded.secret.get_secret_value() == "at_prod"
    assert api_loaded.info.key_id == rotating.current_key_id
    assert await CredentialStore(store, rotating, events=sink).rotate_key(rotating, actor="t") == 0
