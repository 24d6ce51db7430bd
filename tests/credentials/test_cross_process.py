"""Several processes sharing PostgreSQL refresh a credential once between them."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream
from pydantic import SecretStr
from sqlalchemy import update

from persona_mcp.auth.credentials import (
    ClientAuthMethod,
    CredentialInfo,
    CredentialResolver,
    CredentialStore,
    SecretBox,
)
from persona_mcp.auth.credentials.secretbox import encode_key, generate_key
from persona_mcp.auth.environment import Environment
from persona_mcp.auth.events import DiscardEvents
from persona_mcp.config import Settings
from persona_mcp.sandbox import SandboxConfig, create_app
from persona_mcp.sandbox.oauth import SandboxOAuth
from persona_mcp.store import Store, create_store, upgrade
from persona_mcp.store.schema.credentials import credentials as table

from ._support import serve_on_loopback

pytestmark = [pytest.mark.anyio, pytest.mark.postgres, pytest.mark.slow]

WORKER = Path(__file__).with_name("_refresh_worker.py")


@dataclass
class Shared:
    url: str
    key: bytes
    store: Store
    oauth: SandboxOAuth
    credential: CredentialInfo

    @property
    def box(self) -> SecretBox:
        return SecretBox.from_keys(self.key)

    def resolver(self, store: Store | None = None) -> CredentialResolver:
        return CredentialResolver(store or self.store, self.box, settings=Settings(), events=DiscardEvents())

    async def expire_stored_token(self) -> None:
        """Make the stored access token due, as if time had passed (the version stays the same)."""
        async with self.store.engine.begin() as conn:
            await conn.execute(
                update(table)
                .where(table.c.id == self.credential.id)
                .values(access_expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )


@pytest.fixture
def live_oauth() -> Iterator[tuple[str, SandboxOAuth]]:
    oauth = SandboxOAuth({"cli_shared": "shared-secret"})
    with serve_on_loopback(create_app(SandboxConfig(token_issuer=oauth))) as origin:
        yield origin, oauth


@pytest.fixture
async def shared(postgres_schema_url: str, live_oauth: tuple[str, SandboxOAuth]) -> AsyncIterator[Shared]:
    origin, oauth = live_oauth
    store = create_store(postgres_schema_url)
    await upgrade(store)
    key = generate_key()
    credentials = CredentialStore(store, SecretBox.from_keys(key), events=DiscardEvents())
    info = await credentials.add_oauth_client(
        Environment.PRODUCTION,
        token_url=origin + "/api/v1/oauth/token",
        client_id="cli_shared",
        client_secret=SecretStr("shared-secret"),
        auth_method=ClientAuthMethod.CLIENT_SECRET_BASIC,
        actor="test",
    )
    state = Shared(postgres_schema_url, key, store, oauth, info)
    first = await state.resolver().provider_for(Environment.PRODUCTION, "seed")
    with anyio.fail_after(10):
        await first.bearer_token()  # the credential now holds an access and a refresh token
    try:
        yield state
    finally:
        await store.close()


async def _line(stream: TextReceiveStream, buffer: list[str]) -> str:
    while "\n" not in "".join(buffer):
        buffer.append(await stream.receive())
    text = "".join(buffer)
    line, _, rest = text.partition("\n")
    buffer[:] = [rest]
    return line.strip()


async def test_two_os_processes_at_expiry_cause_one_refresh_between_them(shared: Shared) -> None:
    await shared.expire_stored_token()
    env = {
        **os.environ,
        "PERSONA_MCP_DATABASE_URL": shared.url,
        "PERSONA_MCP_SECRET_KEY": encode_key(shared.key),
    }
    processes: list[Process] = []
    try:
        with anyio.fail_after(60):
            for _ in range(2):
                processes.append(await anyio.open_process([sys.executable, str(WORKER)], env=env))
            streams = [TextReceiveStream(p.stdout) for p in processes if p.stdout is not None]
            buffers: list[list[str]] = [[], []]
            for stream, buffer in zip(streams, buffers, strict=True):
                assert await _line(stream, buffer) == "ready"
            for process in processes:
                assert process.stdin is not None
                await process.stdin.send(b"go\n")
            digests = [await _line(stream, buffer) for stream, buffer in zip(streams, buffers, strict=True)]
            codes = [await process.wait() for process in processes]
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
    assert codes == [0, 0]
    assert digests[0] == digests[1]
    assert shared.oauth.counters.refreshes == 1
    stored = await CredentialStore(shared.store, shared.box, events=DiscardEvents()).load(
        shared.credential.id
    )
    assert stored is not None and stored.access_token is not None and stored.refresh_token is not None
    assert hashlib.sha256(stored.access_token.get_secret_value().encode()).hexdigest() == digests[0]
    head = stored.refresh_token.get_secret_value()
    assert shared.oauth.family_head(head) == head


async def test_two_replicas_with_their_own_connection_pools_refresh_once(shared: Shared) -> None:
    await shared.expire_stored_token()
    other_store = create_store(shared.url)
    try:
        replicas = [shared.resolver(), shared.resolver(other_store)]
        providers = [await r.provider_for(Environment.PRODUCTION, "agent") for r in replicas]
        tokens: list[str] = []

        async def call(index: int) -> None:
            tokens.append(await providers[index % 2].bearer_token())

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for index in range(40):
                    tg.start_soon(call, index)
    finally:
        await other_store.close()
    assert len(set(tokens)) == 1
    assert shared.oauth.counters.refreshes == 1
    assert shared.oauth.counters.reuse_detections == 0
    assert shared.oauth.accepts(tokens[0])
