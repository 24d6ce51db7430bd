"""Commands an operator scripts: `--json` on each of them, grant plans that say what they open, a grant's
tools, and `credentials rotate` that tries the new secret before it replaces the old one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import structlog
from tests.credentials._support import serve_on_loopback
from typer.testing import CliRunner, Result

from persona_mcp.auth.credentials import CredentialStore, load_secret_box
from persona_mcp.auth.events import DiscardEvents
from persona_mcp.cli import app
from persona_mcp.sandbox import DEFAULT_API_KEY, SandboxConfig, create_app
from persona_mcp.store import create_store

OLD_KEY = "persona_sandbox_old_key_rejected_0001"


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in (
        "PERSONA_MCP_SECRET_KEY",
        "PERSONA_MCP_DATABASE_URL",
        "PERSONA_API_KEY",
        "PERSONA_MCP_CONFIG",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PERSONA_MCP_DATA_DIR", str(tmp_path))
    yield tmp_path
    structlog.reset_defaults()


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with serve_on_loopback(create_app(SandboxConfig())) as origin:
        monkeypatch.setenv("PERSONA_API_BASE_URL", origin + "/api/v1")
        monkeypatch.setenv("PERSONA_API_MAX_RETRIES", "0")
        yield origin


def _cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def _json(*args: str, input: str | None = None) -> Any:
    result = _cli(*args, "--json", input=input)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _stored_secret(data_dir: Path, credential_id: str) -> str:
    async def read() -> str:
        store = create_store(f"sqlite+aiosqlite:///{data_dir / 'persona-mcp.sqlite3'}")
        try:
            credentials = CredentialStore(store, load_secret_box(None, data_dir), events=DiscardEvents())
            stored = await credentials.load(credential_id)
            assert stored is not None
            return stored.secret.get_secret_value()
        finally:
            await store.close()

    return anyio.run(read)


def test_json_on_credentials_add_test_remove_and_db_and_audit_commands(sandbox: str, env: Path) -> None:
    added = _json("credentials", "add", "--env", "sandbox", "--api-key-stdin", input=DEFAULT_API_KEY)
    credential = added["added"]
    assert credential["id"].startswith("cred_") and credential["environment"] == "sandbox"
    tested = _json("credentials", "test", "sandbox")
    assert tested["ok"] is True and tested["result"].startswith("ok: GET /accounts answered 200")
    removed = _json("credentials", "remove", credential["id"])
    assert removed["removed"]["id"] == credential["id"]
    assert DEFAULT_API_KEY not in json.dumps([added, tested, removed])
    assert _json("db", "upgrade")["revision"]
    pubkey = _json("audit", "pubkey")
    assert pubkey["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert pubkey["fingerprint"].startswith("sha256:")
    checkpoint = _json("audit", "checkpoint")
    assert checkpoint["seq"] >= 1 and checkpoint["signature"]


def test_credentials_rotate_tries_the_new_key_before_replacing_the_old(sandbox: str, env: Path) -> None:
    old = _json("credentials", "add", "--env", "sandbox", "--api-key-stdin", input=OLD_KEY)["added"]
    rotated = _json("credentials", "rotate", old["id"], "--api-key-stdin", input=DEFAULT_API_KEY)
    assert rotated["rotated"] == old["id"]
    new = rotated["credential"]
    assert new["environment"] == "sandbox" and new["principal"] is None and new["kind"] == "api_key"
    assert _stored_secret(env, new["id"]) == DEFAULT_API_KEY
    refused = _cli("credentials", "rotate", new["id"], "--api-key-stdin", input=OLD_KEY)
    assert refused.exit_code == 2, refused.output
    assert "Persona refused the new secret" in refused.output and "old one stays" in refused.output
    assert _stored_secret(env, new["id"]) == DEFAULT_API_KEY
    wrong_kind = _cli("credentials", "rotate", new["id"], "--client-secret-stdin", input="x")
    assert wrong_kind.exit_code == 2 and "not an OAuth client" in wrong_kind.output
    unchecked = _json("credentials", "rotate", new["id"], "--api-key-stdin", "--no-check", input=OLD_KEY)
    assert _stored_secret(env, unchecked["credential"]["id"]) == OLD_KEY


GRANTS = """
source = "ops"

[grants.triage]
principal = "triage-bot"
environment = "sandbox"
scopes = ["accounts:read", "lists:write"]
expires = "2099-01-01"
deny_tools = ["redact_account"]
"""


def test_a_grants_plan_shows_environment_principal_and_effective_tools_as_lists(env: Path) -> None:
    path = env / "grants.toml"
    path.write_text(GRANTS)
    plan = _cli("grants", "apply", str(path), "--dry-run")
    assert plan.exit_code == 0, plan.output
    header, row = plan.stdout.splitlines()[:2]
    cells = dict(zip(header.split("\t"), row.split("\t"), strict=True))
    assert cells["action"] == "create" and cells["environment"] == "sandbox"
    assert cells["principal"] == "triage-bot"
    assert "scopes: - -> accounts:read, lists:write" in cells["changes"]
    assert "[" not in cells["changes"] and "'" not in cells["changes"], "lists, not Python reprs"
    tools = cells["effective tools"].split(", ")
    assert "get_account" in tools and "redact_account" not in tools
    assert not any(tool.startswith("get_inquiry") for tool in tools)


def test_grants_show_tools_lists_what_the_grant_opens(env: Path) -> None:
    created = _json("grants", "create", "--principal", "bot", "--env", "sandbox", "--scopes", "accounts:read")
    grant_id = created["grant"]["id"]
    shown = _json("grants", "show", grant_id, "--tools")
    names = {tool["name"] for tool in shown["tools"]}
    assert "get_account" in names and "list_accounts" in names
    assert all(tool["scope"] == "accounts:read" for tool in shown["tools"])
    human = _cli("grants", "show", grant_id, "--tools")
    assert human.exit_code == 0 and "get_account\taccounts:read\tread" in human.stdout
    _cli("grants", "revoke", grant_id)
    revoked = _cli("grants", "show", grant_id, "--tools")
    assert "the grant opens no tool (revoked)" in revoked.stdout


def test_piped_grant_output_keeps_tokens_and_scope_lists_whole(env: Path) -> None:
    scopes = "accounts:read,accounts:write,inquiries:read,inquiries:write,lists:read,lists:write,pii:read"
    created = _cli(
        "grants", "create", "--principal", "bot-" + "x" * 60, "--env", "sandbox", "--scopes", scopes
    )
    assert created.exit_code == 0, created.output
    tokens = [line for line in created.stdout.splitlines() if line.startswith("pmcp_")]
    assert len(tokens) == 1 and len(tokens[0].split("_")) >= 3 and " " not in tokens[0]
    listed = _cli("grants", "list")
    row = listed.stdout.splitlines()[1].split("\t")
    assert row[3] == " ".join(sorted(scopes.split(","))), "the scope list whole, in one cell"
