"""A server killed between a write's intent and its outcome: the restart says so, and nothing is rewritten.

Everything here is a real process: the sandbox (`persona-mcp sandbox`) with slow writes, the server
(`persona-mcp serve --transport http`) killed with SIGKILL while Persona is still answering, the restart,
and the reviewer's commands (`persona-mcp audit verify`, `persona-mcp audit query --unresolved`).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from sqlalchemy import text

from persona_mcp.server.app import open_server
from persona_mcp.server.serving import free_port
from persona_mcp.store import create_store
from persona_mcp.testing import issue_grant, sandbox_settings

from ._cli import background, child_env, grant_token, run_cli, server_env, wait_until_answering

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

IntentRow = tuple[int, str, str, str]  # seq, call_id, hash, body


def _create_account_intents(db: Path) -> list[IntentRow]:
    """Read-only look at the audit table, as an operator's tool would take it while the server runs."""
    if not db.exists():
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            rows = conn.execute(
                "SELECT seq, call_id, hash, body FROM audit_records "
                "WHERE kind = 'call.intent' AND tool = 'create_account' ORDER BY seq"
            ).fetchall()
    except sqlite3.OperationalError:
        return []  # not migrated yet
    return [(int(seq), str(call_id), str(hash_), str(body)) for seq, call_id, hash_, body in rows]


def _records_of_call(db: Path, call_id: str) -> list[tuple[int, str, str]]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            "SELECT seq, kind, body FROM audit_records WHERE call_id = ? ORDER BY seq", (call_id,)
        ).fetchall()
    return [(int(seq), str(kind), str(body)) for seq, kind, body in rows]


async def _start_create_account(url: str, token: str) -> None:
    """Send create_account and wait for an answer that never comes (the server gets killed)."""
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
        # The connection breaks when the server is killed; that error is the expected end of this call.
        with contextlib.suppress(Exception):
            async with Client(streamable_http_client(url, http_client=http)) as client:
                await client.call_tool("create_account", {"reference_id": "interrupted-write"})


async def test_a_write_interrupted_by_sigkill_keeps_its_intent_and_the_restart_records_outcome_unknown(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    db = data_dir / "persona-mcp.sqlite3"
    sandbox_port = free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    env = server_env(data_dir, base_url=f"{sandbox_url}/api/v1", instance_id="crash-test")
    sandbox_args = ("sandbox", "--port", str(sandbox_port), "--seed", "demo")

    async with background(*sandbox_args, env=child_env(), log=tmp_path / "sandbox.log") as sandbox:
        token = ""

        async def create_grant() -> None:
            nonlocal token
            created = await run_cli(
                "grants",
                "create",
                "--principal",
                "p",
                "--env",
                "sandbox",
                "--scopes",
                "accounts:write",
                env=env,
            )
            assert created.returncode == 0, created.stderr.decode()[-2000:]
            token = grant_token(created.stdout)

        async with anyio.create_task_group() as tg:
            tg.start_soon(create_grant)  # while the sandbox starts
            await wait_until_answering(f"{sandbox_url}/__sandbox__/faults", sandbox)
            async with httpx2.AsyncClient() as http:
                slow = await http.put(f"{sandbox_url}/__sandbox__/faults", json={"write_latency_ms": 120_000})
                assert slow.status_code == 200 and slow.json()["write_latency_ms"] == 120_000

        port = free_port()
        serve = ("serve", "--transport", "http", "--port", str(port), "--log-level", "WARNING")
        async with background(*serve, env=env, log=tmp_path / "server-1.log") as server:
            await wait_until_answering(f"http://127.0.0.1:{port}/healthz", server)
            async with anyio.create_task_group() as tg:
                tg.start_soon(_start_create_account, f"http://127.0.0.1:{port}/mcp", token)
                with anyio.fail_after(60):
                    while not (intents := _create_account_intents(db)):
                        await anyio.sleep(0.05)
                server.kill()  # SIGKILL: no outcome record, no final checkpoint, no cleanup
                with anyio.fail_after(10):
                    await server.wait()
                tg.cancel_scope.cancel()
        assert len(intents) == 1
        intent_seq, call_id, _hash, intent_body = intents[0]
        assert [kind for _, kind, _ in _records_of_call(db, call_id)] == ["call.intent"]

        port = free_port()
        serve = ("serve", "--transport", "http", "--port", str(port), "--log-level", "WARNING")
        async with background(*serve, env=env, log=tmp_path / "server-2.log") as restarted:
            # The audit log recovers while the server opens, before it accepts connections.
            await wait_until_answering(f"http://127.0.0.1:{port}/healthz", restarted)
            assert restarted.returncode is None

    assert _create_account_intents(db) == intents, "the intent record is exactly as it was written"
    trail = _records_of_call(db, call_id)
    assert [kind for _, kind, _ in trail] == ["call.intent", "call.outcome_unknown"]
    unknown = json.loads(trail[1][2])
    assert unknown["outcome"] == "unknown" and unknown["instance_id"] == "crash-test"
    assert f"intent seq {intent_seq}" in unknown["reason"]
    assert unknown["idempotency_key"] == json.loads(intent_body)["idempotency_key"]

    async with anyio.create_task_group() as tg:
        results: dict[str, subprocess.CompletedProcess[bytes]] = {}

        async def run(name: str, *args: str) -> None:
            results[name] = await run_cli(*args, env=env)

        tg.start_soon(run, "verify", "audit", "verify")
        tg.start_soon(run, "unresolved", "audit", "query", "--unresolved", "--json")
    verify, unresolved = results["verify"], results["unresolved"]
    assert verify.returncode == 0, verify.stdout.decode() + verify.stderr.decode()[-2000:]
    assert unresolved.returncode == 0, unresolved.stderr.decode()[-2000:]
    listed = [json.loads(line) for line in unresolved.stdout.decode().splitlines() if line.strip()]
    assert [(r["kind"], r["call_id"], r["seq"]) for r in listed] == [("call.intent", call_id, intent_seq)]


async def test_a_server_stopped_with_sigterm_exits_cleanly_after_a_final_signed_checkpoint(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    settings = sandbox_settings(data_dir)
    async with open_server(settings, instance_id="sigterm-test") as setup:
        token = await issue_grant(setup, ["accounts:read"], principal="agent")
    env = server_env(data_dir, base_url="http://127.0.0.1:9/api/v1", instance_id="sigterm-test")
    port = free_port()
    serve = ("serve", "--transport", "http", "--port", str(port), "--log-level", "WARNING")
    async with background(*serve, env=env, log=tmp_path / "server.log") as server:
        await wait_until_answering(f"http://127.0.0.1:{port}/healthz", server)
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
            async with Client(
                streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http)
            ) as client:
                # Refused before Persona (which is not running here), yet audited: one more record.
                assert (await client.call_tool("get_account", {"account_id": "not-an-id"})).is_error
        server.terminate()  # what `docker stop` and Kubernetes send
        with anyio.fail_after(30):
            exit_code = await server.wait()

    store = create_store(settings.resolved_database_url)
    try:
        async with store.engine.connect() as conn:
            head = (await conn.execute(text("SELECT MAX(seq) FROM audit_records"))).scalar_one()
            signed = (await conn.execute(text("SELECT MAX(seq) FROM audit_checkpoints"))).scalar_one()
    finally:
        await store.close()
    assert (exit_code, signed) == (0, head), "a clean stop signs the head of the chain"
