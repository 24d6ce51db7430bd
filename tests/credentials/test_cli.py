"""`persona-mcp credentials ...` through Typer's CliRunner on a real SQLite file and the real audit log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import structlog
from joserfc.jwk import RSAKey
from typer.testing import CliRunner, Result

from persona_mcp.auth.credentials import CredentialStatus, CredentialStore, load_secret_box
from persona_mcp.auth.credentials.secretbox import KEY_FILE_NAME, NEXT_KEY_FILE_NAME, encode_key, generate_key
from persona_mcp.auth.events import DiscardEvents
from persona_mcp.cli.credentials import app
from persona_mcp.sandbox import DEFAULT_API_KEY, SandboxConfig, create_app
from persona_mcp.sandbox.oauth import SandboxOAuth
from persona_mcp.store import create_store

from ._support import serve_on_loopback

API_KEY = "persona_sandbox_cli_secret_2b9c"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def env(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in (
        "PERSONA_MCP_SECRET_KEY",
        "PERSONA_MCP_DATABASE_URL",
        "PERSONA_API_KEY",
        "PERSONA_MCP_CONFIG",
    ):
        monkeypatch.delenv(name, raising=False)
    values = {"PERSONA_MCP_DATA_DIR": str(data_dir)}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI configures structlog for its process; put the defaults back for the next test."""
    yield
    structlog.reset_defaults()


def _cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def _listed() -> list[dict[str, Any]]:
    result = _cli("list", "--json")
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def _stored_secret(data_dir: Path, credential_id: str) -> str:
    async def read() -> str:
        store = create_store(f"sqlite+aiosqlite:///{data_dir / 'persona-mcp.sqlite3'}")
        try:
            box = load_secret_box(None, data_dir)
            loaded = await CredentialStore(store, box, events=DiscardEvents()).load(credential_id)
        finally:
            await store.close()
        assert loaded is not None
        return loaded.secret.get_secret_value()

    return anyio.run(read)


def test_an_api_key_added_from_stdin_is_listed_without_its_secret(
    env: dict[str, str], data_dir: Path
) -> None:
    result = _cli("add", "--env", "sandbox", "--api-key-stdin", "--principal", "alice", input=API_KEY + "\n")
    assert result.exit_code == 0, result.output
    (row,) = _listed()
    assert row["kind"] == "api_key" and row["environment"] == "sandbox" and row["principal"] == "alice"
    assert row["status"] == "active"
    table = _cli("list")
    assert "api_key" in table.stdout and "alice" in table.stdout
    assert API_KEY not in table.output and API_KEY not in json.dumps(row) and API_KEY not in result.output
    assert _stored_secret(data_dir, row["id"]) == API_KEY
    assert (data_dir / KEY_FILE_NAME).stat().st_mode & 0o777 == 0o600


def test_oauth_clients_and_access_tokens_are_added_with_their_settings(
    env: dict[str, str], data_dir: Path, tmp_path: Path
) -> None:
    key_file = tmp_path / "client.pem"
    key_file.write_bytes(RSAKey.generate_key(2048).as_pem(private=True))
    jwt_client = _cli(
        "add", "--env", "production", "--oauth", "--token-url", "https://api.withpersona.com/api/v1/oauth/token",
        "--client-id", "org_client", "--private-key-file", str(key_file), "--scope", "account.read",
    )  # fmt: skip
    assert jwt_client.exit_code == 0, jwt_client.output
    secret_client = _cli(
        "add", "--env", "sandbox", "--oauth", "--token-url", "https://gw.example/token", "--client-id", "c2",
        "--client-secret-stdin", "--auth-method", "client_secret_post", input="cs-value\n",
    )  # fmt: skip
    assert secret_client.exit_code == 0, secret_client.output
    token = _cli(
        "add", "--env", "production", "--principal", "bob", "--access-token-stdin", "--expires-in", "3600",
        input="at-value\n",
    )  # fmt: skip
    assert token.exit_code == 0, token.output
    rows = {(r["environment"], r["principal"]): r for r in _listed()}
    assert rows[("production", None)]["auth_method"] == "private_key_jwt"
    assert rows[("production", None)]["scope"] == "account.read"
    assert rows[("sandbox", None)]["auth_method"] == "client_secret_post"
    assert rows[("production", "bob")]["kind"] == "access_token"
    assert rows[("production", "bob")]["expires_at"] is not None
    assert _stored_secret(data_dir, rows[("sandbox", None)]["id"]) == "cs-value"


@pytest.mark.parametrize(
    "args",
    [
        ["--env", "sandbox"],
        ["--env", "sandbox", "--api-key-stdin", "--oauth"],
        ["--env", "sandbox", "--oauth", "--token-url", "http://gw.example/token", "--client-id", "c",
         "--client-secret-stdin"],
        ["--env", "sandbox", "--oauth", "--token-url", "https://gw.example/token", "--client-id", "c"],
        ["--env", "sandbox", "--access-token-stdin"],
        ["--env", "staging", "--api-key-stdin"],
    ],
)  # fmt: skip
def test_invalid_add_invocations_are_refused_and_store_nothing(env: dict[str, str], args: list[str]) -> None:
    result = _cli("add", *args, input="value\n")
    assert result.exit_code != 0
    assert _listed() == []


def test_an_empty_secret_on_stdin_is_refused(env: dict[str, str]) -> None:
    result = _cli("add", "--env", "sandbox", "--api-key-stdin", input="\n")
    assert result.exit_code == 1 and "no API key on stdin" in result.output


def test_changes_are_refused_when_the_audit_log_is_unavailable(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import persona_mcp.audit

    def broken(*_args: object) -> object:
        raise OSError("disk full")

    monkeypatch.setattr(persona_mcp.audit, "open_admin_sink", broken)
    result = _cli("add", "--env", "sandbox", "--api-key-stdin", input=API_KEY)
    assert result.exit_code == 1
    assert "audit log is unavailable" in result.output and "refused" in result.output
    assert _listed() == []


def test_remove_deletes_and_an_unknown_id_is_an_error(env: dict[str, str]) -> None:
    _cli("add", "--env", "sandbox", "--api-key-stdin", input=API_KEY)
    (row,) = _listed()
    assert _cli("remove", row["id"]).exit_code == 0
    assert _listed() == []
    missing = _cli("remove", row["id"])
    assert missing.exit_code == 1 and "no credential" in missing.output


def test_rotate_key_with_the_key_file_reencrypts_and_retires_the_old_key(
    env: dict[str, str], data_dir: Path
) -> None:
    _cli("add", "--env", "sandbox", "--api-key-stdin", input=API_KEY)
    old_key = (data_dir / KEY_FILE_NAME).read_text()
    result = _cli("rotate-key")
    assert result.exit_code == 0, result.output
    assert "re-encrypted 1 credential(s)" in result.stdout
    assert (data_dir / KEY_FILE_NAME).read_text() != old_key
    assert not (data_dir / NEXT_KEY_FILE_NAME).exists()
    (row,) = _listed()
    assert row["key_id"] == load_secret_box(None, data_dir).current_key_id
    assert _stored_secret(data_dir, row["id"]) == API_KEY


def test_rotate_key_with_an_environment_key_needs_the_new_key_on_stdin(
    env: dict[str, str], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = encode_key(generate_key()), encode_key(generate_key())
    monkeypatch.setenv("PERSONA_MCP_SECRET_KEY", old)
    _cli("add", "--env", "sandbox", "--api-key-stdin", input=API_KEY)
    refused = _cli("rotate-key")
    assert refused.exit_code == 1 and "--new-key-stdin" in refused.output
    assert _cli("rotate-key", "--new-key-stdin", input=new).exit_code == 0
    monkeypatch.setenv("PERSONA_MCP_SECRET_KEY", new)
    assert len(_listed()) == 1
    monkeypatch.setenv("PERSONA_MCP_SECRET_KEY", old)
    monkeypatch.setenv("PERSONA_API_BASE_URL", "http://127.0.0.1:9/api/v1")  # never the internet
    stale = _cli("test", "sandbox")
    assert stale.exit_code == 1 and "which this server does not have" in stale.output


@pytest.fixture
def live_sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, SandboxOAuth]]:
    oauth = SandboxOAuth({"cli_live": "live-secret"})
    app = create_app(SandboxConfig(token_issuer=oauth))
    with serve_on_loopback(app) as origin:
        monkeypatch.setenv("PERSONA_API_BASE_URL", origin + "/api/v1")
        monkeypatch.setenv("PERSONA_API_MAX_RETRIES", "0")
        yield origin, oauth


def test_credentials_test_makes_a_cheap_call_with_an_api_key(
    env: dict[str, str], live_sandbox: tuple[str, SandboxOAuth]
) -> None:
    _cli("add", "--env", "sandbox", "--api-key-stdin", input=DEFAULT_API_KEY)
    result = _cli("test", "sandbox")
    assert result.exit_code == 0, result.output
    assert "ok: GET /accounts answered 200" in result.stdout
    assert DEFAULT_API_KEY not in result.output


def test_credentials_test_obtains_an_oauth_token_first(
    env: dict[str, str], live_sandbox: tuple[str, SandboxOAuth]
) -> None:
    origin, oauth = live_sandbox
    added = _cli(
        "add", "--env", "production", "--oauth", "--token-url", origin + "/api/v1/oauth/token",
        "--client-id", "cli_live", "--client-secret-stdin", input="live-secret",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    result = _cli("test", "production")
    assert result.exit_code == 0, result.output
    assert oauth.counters.requests_by_grant == {"client_credentials": 1}
    (row,) = _listed()
    assert row["last_refreshed_at"] is not None and row["expires_at"] is not None


def test_credentials_test_reports_a_dead_credential_with_the_fix(
    env: dict[str, str], live_sandbox: tuple[str, SandboxOAuth]
) -> None:
    origin, _oauth = live_sandbox
    _cli(
        "add", "--env", "production", "--oauth", "--token-url", origin + "/api/v1/oauth/token",
        "--client-id", "cli_live", "--client-secret-stdin", input="wrong-secret",
    )  # fmt: skip
    result = _cli("test", "production")
    assert result.exit_code == 1
    assert "was disabled" in result.output and "credentials add --env production --oauth" in result.output
    (row,) = _listed()
    assert row["status"] == CredentialStatus.DISABLED.value
