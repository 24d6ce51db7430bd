"""`serve` warns at start, and `/healthz` says `degraded`, in every state where calls are bound to fail.

And a stored credential is never orphaned: no new secret key is created while credentials encrypted under
the old one exist, and a call that fails for a configuration reason never says retrying is safe.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from pydantic import SecretStr
from sqlalchemy import update
from structlog.testing import capture_logs
from tests.operations._cli import clean_env, run_cli

from persona_mcp.auth.credentials.secretbox import (
    KEY_FILE_NAME,
    MissingSecretKeyError,
    encode_key,
    generate_key,
)
from persona_mcp.auth.environment import Environment
from persona_mcp.config import Settings
from persona_mcp.operator_error import ConfigError
from persona_mcp.sandbox.config import DEFAULT_API_KEY
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.server.app import PersonaMcp, open_server
from persona_mcp.server.callers import StaticTokenCallers
from persona_mcp.server.run import http_app_for
from persona_mcp.store.schema.grants import grants as grants_table
from persona_mcp.testing import issue_grant, sandbox_app, sandbox_settings

pytestmark = pytest.mark.anyio


def _codes(app: PersonaMcp) -> list[str]:
    return [warning.code for warning in app.warnings]


def _open(settings: Settings, transport: str = "memory") -> object:
    return open_server(settings, transport=transport, persona_transport=SandboxTransport(sandbox_app()))


async def test_no_grant_at_all_is_a_warning_and_healthz_is_degraded(tmp_path: Path) -> None:
    settings = sandbox_settings(tmp_path)
    with capture_logs() as logs:
        async with _open(settings, "http") as app:  # type: ignore[attr-defined]
            assert _codes(app) == ["no_grants"]
            asgi = http_app_for(app, settings, "http://127.0.0.1:8000/mcp")
            local = httpx2.ASGITransport(app=asgi, client=("127.0.0.1", 5000))
            async with httpx2.AsyncClient(transport=local, base_url="http://127.0.0.1:8000") as http:
                report = (await http.get("/healthz")).json()
                assert report["status"] == "degraded"
                assert [w["code"] for w in report["warnings"]] == ["no_grants"]
                remote = httpx2.ASGITransport(app=asgi, client=("203.0.113.9", 5000))
                async with httpx2.AsyncClient(transport=remote, base_url="http://127.0.0.1:8000") as outside:
                    seen = await outside.get("/healthz")
                assert seen.status_code == 200 and "warnings" not in seen.json()
                await issue_grant(app, ["accounts:read"])
                assert (await http.get("/healthz")).json()["status"] == "ok"
    warned = [entry for entry in logs if entry["log_level"] == "warning" and entry.get("code") == "no_grants"]
    assert warned and "grants create" in warned[0]["hint"]


async def test_a_missing_stdio_token_is_a_warning(tmp_path: Path) -> None:
    settings = sandbox_settings(tmp_path)
    async with _open(settings) as app:  # type: ignore[attr-defined]
        await issue_grant(app, ["accounts:read"])
    async with _open(settings, "stdio") as app:  # type: ignore[attr-defined]
        assert _codes(app) == ["stdio_token_missing"]
        assert app.health()["status"] == "degraded"


@pytest.mark.parametrize("state", ["revoked", "expired", "unknown"])
async def test_a_revoked_expired_or_unknown_stdio_token_is_a_warning(tmp_path: Path, state: str) -> None:
    settings = sandbox_settings(tmp_path)
    async with _open(settings) as app:  # type: ignore[attr-defined]
        await issue_grant(app, ["accounts:read"], principal="other")
        token = await issue_grant(app, ["accounts:read"])
        grant = next(g for g in await app.grants.list_all() if g.principal == "test-agent")
        if state == "revoked":
            await app.grants.revoke(grant.id)
        elif state == "expired":  # as time passing would leave it
            async with app.store.engine.begin() as conn:
                await conn.execute(
                    update(grants_table)
                    .where(grants_table.c.id == grant.id)
                    .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
                )
        else:
            token = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    settings.token = SecretStr(token)
    async with _open(settings, "stdio") as app:  # type: ignore[attr-defined]
        assert _codes(app) == ["stdio_token_refused"]
        message = app.warnings[0].message
        expected = {
            "revoked": "grant revoked",
            "expired": "grant expired",
            "unknown": "secret does not match",
        }
        assert expected[state] in message
        assert token not in message


async def test_a_valid_stdio_token_gives_no_warning(tmp_path: Path) -> None:
    settings = sandbox_settings(tmp_path)
    async with _open(settings) as app:  # type: ignore[attr-defined]
        token = await issue_grant(app, ["accounts:read"])
    settings.token = SecretStr(token)
    async with _open(settings, "stdio") as app:  # type: ignore[attr-defined]
        assert _codes(app) == []
        assert app.health()["status"] == "ok"


async def test_no_credential_for_an_environment_a_grant_uses_is_a_warning(tmp_path: Path) -> None:
    settings = sandbox_settings(tmp_path)  # PERSONA_API_KEY serves the sandbox only
    async with _open(settings) as app:  # type: ignore[attr-defined]
        await issue_grant(app, ["accounts:read"])
        await issue_grant(app, ["accounts:read"], principal="prod-agent", environment=Environment.PRODUCTION)
        await app.refresh_warnings(max_age_s=0)
        assert _codes(app) == ["no_credential"]
        assert "production" in app.warnings[0].message
        assert "credentials add --env production" in app.warnings[0].hint
        assert app.credential_store is not None
        await app.credential_store.add_api_key(
            Environment.PRODUCTION, SecretStr("persona_production_key_0123"), actor="test"
        )
        await app.refresh_warnings(max_age_s=0)
        assert _codes(app) == []


async def _store_a_credential(settings: Settings) -> None:
    async with _open(settings) as app:  # type: ignore[attr-defined]
        assert app.credential_store is not None
        await app.credential_store.add_api_key(
            Environment.SANDBOX, SecretStr("persona_sandbox_stored_key_0123"), actor="test"
        )


async def test_a_secret_key_that_cannot_decrypt_stored_credentials_is_a_warning(tmp_path: Path) -> None:
    settings = sandbox_settings(tmp_path)
    settings.secret_key = SecretStr(encode_key(generate_key()))
    await _store_a_credential(settings)
    settings.secret_key = SecretStr(encode_key(generate_key()))  # another key
    async with _open(settings) as app:  # type: ignore[attr-defined]
        token = await issue_grant(app, ["accounts:read"])
        assert "secret_key_mismatch" in _codes(app)
        assert app.health()["status"] == "degraded"
        # The call that needs it fails for a configuration reason, and says so: never "retrying is safe".
        assert isinstance(app.caller_source, StaticTokenCallers)
        app.caller_source.token = token
        async with Client(app.server) as client:
            result = await client.call_tool("list_accounts", {})
    text = " ".join(getattr(block, "text", "") for block in result.content)
    assert result.is_error
    assert "administrator" in text
    assert "safe" not in text.lower()
    assert result.meta is not None and result.meta["persona-mcp/error"]["retry_safe"] is False


async def test_no_new_secret_key_is_created_while_encrypted_credentials_exist(tmp_path: Path) -> None:
    settings = sandbox_settings(tmp_path)
    await _store_a_credential(settings)  # under the key file created on first use
    key_file = tmp_path / KEY_FILE_NAME
    key_file.unlink()
    with pytest.raises(MissingSecretKeyError) as refused:
        async with _open(settings):  # type: ignore[attr-defined]
            pass
    assert isinstance(refused.value, ConfigError)
    assert "k_" in refused.value.message and str(key_file) in refused.value.message
    assert not key_file.exists()


def test_the_cli_refuses_in_one_line_instead_of_creating_a_new_key(tmp_path: Path) -> None:
    anyio.run(_store_a_credential, sandbox_settings(tmp_path))
    (tmp_path / KEY_FILE_NAME).unlink()
    ran = run_cli("credentials", "list", env=clean_env(tmp_path))
    assert ran.status == 2, ran.stderr
    assert "no new key is created" in ran.one_line and "(hint: restore" in ran.one_line
    assert not (tmp_path / KEY_FILE_NAME).exists()


def _serve_stdio_warnings(data_dir: Path, **env: str) -> set[str]:
    """Run the real `persona-mcp serve` (stdio, its input at end of file so it stops at once) and return
    the codes of the warning lines it logged at start."""
    done = subprocess.run(
        [sys.executable, "-m", "persona_mcp.cli", "serve"],
        env=clean_env(data_dir, PERSONA_MCP_ENVIRONMENT="sandbox", **env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith('{"')]
    warned = [
        line for line in lines if line["level"] == "warning" and line["event"] == "startup check failed"
    ]
    assert all(line["hint"] and line["problem"] for line in warned)
    assert any(line["event"] == "server ready" for line in lines), "the warnings never stop the server"
    return {line["code"] for line in warned}


async def _grant_then_alter(settings: Settings, state: str) -> str:
    async with _open(settings) as app:  # type: ignore[attr-defined]
        await issue_grant(app, ["accounts:read"], principal="other")  # the server has a live grant
        token = await issue_grant(app, ["accounts:read"])
        grant = next(g for g in await app.grants.list_all() if g.principal == "test-agent")
        if state == "revoked":
            await app.grants.revoke(grant.id)
        elif state == "expired":
            async with app.store.engine.begin() as conn:
                await conn.execute(
                    update(grants_table)
                    .where(grants_table.c.id == grant.id)
                    .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
                )
    return token


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("no grant", {"no_grants", "stdio_token_missing"}),
        ("no token", {"stdio_token_missing"}),
        ("revoked", {"stdio_token_refused"}),
        ("expired", {"stdio_token_refused"}),
        ("no credential", {"no_credential"}),
        ("undecryptable", {"secret_key_mismatch"}),
        ("all well", set()),
    ],
)
async def test_serve_logs_each_startup_warning_as_a_warning_line(
    tmp_path: Path, state: str, expected: set[str]
) -> None:
    settings = sandbox_settings(tmp_path)
    env = {"PERSONA_API_KEY": DEFAULT_API_KEY}
    if state == "undecryptable":
        settings.secret_key = SecretStr(encode_key(generate_key()))
        await _store_a_credential(settings)
        env["PERSONA_MCP_SECRET_KEY"] = encode_key(generate_key())  # another key
    if state != "no grant":
        token = await _grant_then_alter(settings, state)
        if state != "no token":
            env["PERSONA_MCP_TOKEN"] = token
    if state == "no credential":
        del env["PERSONA_API_KEY"]  # and none stored for the sandbox the grant uses
    codes = await anyio.to_thread.run_sync(lambda: _serve_stdio_warnings(tmp_path, **env))
    assert codes == expected


async def _healthz(app: PersonaMcp, settings: Settings) -> dict[str, Any]:
    asgi = http_app_for(app, settings, "http://127.0.0.1:8000/mcp")
    local = httpx2.ASGITransport(app=asgi, client=("127.0.0.1", 5000))
    async with httpx2.AsyncClient(transport=local, base_url="http://127.0.0.1:8000") as http:
        answer = await http.get("/healthz")
    assert answer.status_code == 200
    report: dict[str, Any] = answer.json()
    return report


@pytest.mark.parametrize("state", ["no_credential", "secret_key_mismatch"])
async def test_an_http_server_logs_the_warning_and_healthz_names_it(tmp_path: Path, state: str) -> None:
    settings = sandbox_settings(tmp_path)
    if state == "secret_key_mismatch":
        settings.secret_key = SecretStr(encode_key(generate_key()))
        await _store_a_credential(settings)
        settings.secret_key = SecretStr(encode_key(generate_key()))
    await _grant_then_alter(settings, "live")
    if state == "no_credential":
        settings.persona.key = None
    with capture_logs() as logs:
        async with _open(settings, "http") as app:  # type: ignore[attr-defined]
            report = await _healthz(app, settings)
    assert report["status"] == "degraded"
    assert [w["code"] for w in report["warnings"]] == [state]
    warned = [entry for entry in logs if entry["log_level"] == "warning" and entry.get("code") == state]
    assert len(warned) == 1 and warned[0]["hint"]
