"""Seeded secrets never appear in the database file, the logs, or `credentials list`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import anyio
import pytest
import structlog
from joserfc.jwk import ECKey
from pydantic import SecretStr
from structlog.testing import capture_logs
from typer.testing import CliRunner

from persona_mcp.auth.credentials import ClientAuthMethod, CredentialResolver, CredentialStore, SecretBox
from persona_mcp.auth.credentials.secretbox import encode_key, generate_key
from persona_mcp.auth.environment import Environment
from persona_mcp.cli import credentials as credentials_cli
from persona_mcp.config import Settings
from persona_mcp.persona.client import PersonaClient
from persona_mcp.sandbox import SandboxConfig, create_app
from persona_mcp.sandbox.oauth import SandboxOAuth
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.store import create_store, upgrade

from ._support import API_BASE_URL, TOKEN_URL, FakeClock, RecordingSink

pytestmark = pytest.mark.anyio

API_KEY = "persona_production_SEEDED_api_key_51c0"
CLIENT_SECRET = "SEEDED-client-secret-9d2e"
ACCESS_TOKEN = "SEEDED-authorization-code-token-77aa"
EC_KEY = ECKey.generate_key("P-256")


@pytest.fixture
def _restore_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def _database_bytes(directory: Path) -> bytes:
    return b"".join(
        p.read_bytes() for p in sorted(directory.iterdir()) if p.name.startswith("persona-mcp.sqlite3")
    )


async def test_seeded_secrets_are_absent_from_the_database_file_the_logs_and_the_listing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _restore_logging: None
) -> None:
    key = generate_key()
    box = SecretBox.from_keys(key)
    database = tmp_path / "persona-mcp.sqlite3"
    store = create_store(f"sqlite+aiosqlite:///{database}")
    await upgrade(store)
    clock = FakeClock()
    private_pem = EC_KEY.as_pem(private=True).decode()
    oauth = SandboxOAuth(
        {"cli_secret": CLIENT_SECRET, "cli_jwt": EC_KEY.as_pem(private=False).decode()}, clock=clock.time
    )
    transport = SandboxTransport(create_app(SandboxConfig(token_issuer=oauth)))
    sink = RecordingSink()
    credentials = CredentialStore(store, box, events=sink, clock=clock.utc)
    resolver = CredentialResolver(
        store, box, settings=Settings(), events=sink, http_transport=transport, clock=clock.utc
    )
    issued: list[str] = []
    with capture_logs() as logs:
        await credentials.add_api_key(Environment.PRODUCTION, SecretStr(API_KEY), principal="p1", actor="t")
        await credentials.add_access_token(
            Environment.PRODUCTION,
            SecretStr(ACCESS_TOKEN),
            expires_at=clock.utc() + timedelta(hours=1),
            principal="p2",
            actor="t",
        )
        for client_id, secret, method, environment in (
            ("cli_secret", CLIENT_SECRET, ClientAuthMethod.CLIENT_SECRET_POST, Environment.SANDBOX),
            ("cli_jwt", private_pem, ClientAuthMethod.PRIVATE_KEY_JWT, Environment.PRODUCTION),
        ):
            await credentials.add_oauth_client(
                environment,
                token_url=TOKEN_URL,
                client_id=client_id,
                client_secret=SecretStr(secret),
                auth_method=method,
                actor="t",
            )
            provider = await resolver.provider_for(environment, "agent")
            issued.append(await provider.bearer_token())
            clock.advance(900)
            async with PersonaClient(
                base_url=API_BASE_URL, credentials=provider, transport=transport
            ) as client:
                await client.get("/accounts", params={"page[size]": 1})
            issued.append(await provider.bearer_token())
        for info in await credentials.list():
            stored = await credentials.load(info.id)
            assert stored is not None
            if stored.refresh_token is not None:
                issued.append(stored.refresh_token.get_secret_value())
    assert (tmp_path / "persona-mcp.sqlite3-wal").exists()
    on_disk = _database_bytes(tmp_path)  # main file and write-ahead log while open ...
    await store.close()
    on_disk += _database_bytes(tmp_path)  # ... and after the final checkpoint

    secrets = [API_KEY, CLIENT_SECRET, ACCESS_TOKEN, *issued]
    pem_body = "".join(private_pem.strip().splitlines()[1:-1])
    assert len(issued) == 6 and all(issued)
    for secret in [*secrets, pem_body[:40]]:
        assert secret.encode() not in on_disk
    assert logs, "the flow logs events (added, refreshed)"
    rendered_logs = json.dumps(logs, default=str)
    for secret in [*secrets, pem_body[:40]]:
        assert secret not in rendered_logs
        assert secret not in json.dumps(sink.events)

    monkeypatch.setenv("PERSONA_MCP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PERSONA_MCP_SECRET_KEY", encode_key(key))
    monkeypatch.delenv("PERSONA_MCP_DATABASE_URL", raising=False)
    runner = CliRunner()
    # The CLI runs its own event loop, so it gets a thread of its own.
    table = await anyio.to_thread.run_sync(runner.invoke, credentials_cli.app, ["list"])
    as_json = await anyio.to_thread.run_sync(runner.invoke, credentials_cli.app, ["list", "--json"])
    assert table.exit_code == 0 and as_json.exit_code == 0, table.output + as_json.output
    assert len(json.loads(as_json.stdout)) == 4
    for secret in [*secrets, pem_body[:40]]:
        assert secret not in table.output and secret not in as_json.output
