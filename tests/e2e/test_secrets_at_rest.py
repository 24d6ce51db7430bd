"""After a session with personal data, no clear-text value, API key or grant token is left at rest.

The session goes through the MCP client with a stored (sealed) Persona API key that the sandbox is the
only one to accept; then the raw bytes of the SQLite database and its WAL, and every export format of
`persona-mcp audit export`, are searched for each value. A reviewer can still find the call by e-mail.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

import anyio
import pytest
from pydantic import SecretStr

from persona_mcp.auth.environment import Environment
from persona_mcp.sandbox import SandboxConfig, create_app
from persona_mcp.testing import connected

from ._cli import child_env, run_cli
from ._credentials import credential_store

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

EMAIL = "Zebulon.Quixotefield@Example.org"
PERSONAL = {
    "name_first": "Zebulon",
    "name_middle": "Archibald",
    "name_last": "Quixotefield",
    "email_address": EMAIL,
    "phone_number": "+1 415 555 0199",
    "birthdate": "1987-06-05",
    "address_street_1": "742 Evergreen Terrace",
    "address_street_2": "Apartment 9B",
    "address_city": "Shelbyville",
    "address_subdivision": "Oregon",
    "address_postal_code": "97403",
}


def _forbidden(api_key: str, grant_token: str) -> dict[str, bytes]:
    """Each secret and personal value, also in the normalised spellings a digest step would use."""
    values: dict[str, str] = {"api key": api_key, "grant token": grant_token}
    values["grant token secret"] = grant_token.split("_", 2)[2]
    for name, value in PERSONAL.items():
        values[name] = value
        values[f"{name} (lower case)"] = value.lower()
    values["phone digits"] = "".join(ch for ch in PERSONAL["phone_number"] if ch.isdigit())
    return {name: value.encode() for name, value in values.items()}


def _leaks(blob: bytes, forbidden: dict[str, bytes]) -> list[str]:
    return [name for name, value in forbidden.items() if value in blob]


def _database_bytes(data_dir: Path) -> bytes:
    files = sorted(data_dir.glob("persona-mcp.sqlite3*"))  # the file, its -wal and -shm
    assert files
    return b"".join(f.read_bytes() for f in files)


async def test_personal_data_api_keys_and_grant_tokens_never_reach_the_database_or_the_exports(
    tmp_path: Path,
) -> None:
    api_key = f"persona_sandbox_e2e_{secrets.token_hex(16)}"
    upstream = create_app(SandboxConfig(api_keys=frozenset({api_key}), seed="demo"))
    async with connected(tmp_path, ["accounts:write", "pii:read"], sandbox=upstream) as h:
        await credential_store(h.app).add_api_key(Environment.SANDBOX, SecretStr(api_key), actor="e2e")
        created = await h.client.call_tool("create_account", {"reference_id": "pii-at-rest", **PERSONAL})
        assert not created.is_error, created.content
        account_id = created.structured_content["id"]  # type: ignore[index]
        read = await h.client.call_tool("get_account", {"account_id": account_id})
        assert not read.is_error, read.content
        assert EMAIL.lower() in json.dumps(read.structured_content).lower(), "pii:read shows it in clear"
        updated = await h.client.call_tool(
            "update_account", {"account_id": account_id, "phone_number": PERSONAL["phone_number"]}
        )
        assert not updated.is_error, updated.content
        forbidden = _forbidden(api_key, h.token)
        while_open = _database_bytes(tmp_path)
    after_close = _database_bytes(tmp_path)
    assert _leaks(while_open, forbidden) == []
    assert _leaks(after_close, forbidden) == []

    env = child_env(PERSONA_MCP_DATA_DIR=str(tmp_path))
    commands = {
        "jsonl": ("audit", "export", "--format", "jsonl"),
        "csv": ("audit", "export", "--format", "csv"),
        "ocsf": ("audit", "export", "--format", "ocsf"),
        "query": ("audit", "query", "--email", EMAIL.lower(), "--json"),
    }
    results: dict[str, subprocess.CompletedProcess[bytes]] = {}

    async def run(name: str) -> None:
        results[name] = await run_cli(*commands[name], env=env)

    async with anyio.create_task_group() as tg:
        for name in commands:
            tg.start_soon(run, name)
    for name, result in results.items():
        assert result.returncode == 0, (name, result.stderr.decode()[-2000:])
        assert _leaks(result.stdout + result.stderr, forbidden) == [], name
    assert account_id.encode() in results["jsonl"].stdout, "the export holds the session"

    found = [json.loads(line) for line in results["query"].stdout.decode().splitlines() if line.strip()]
    assert sorted((r["tool"], r["kind"]) for r in found) == [
        ("create_account", "call.intent"),
        ("create_account", "call.outcome"),
    ], "the e-mail was an argument of exactly one call"
    assert len({r["call_id"] for r in found}) == 1
