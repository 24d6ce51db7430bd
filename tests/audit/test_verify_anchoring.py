"""Issue 10, point 6: a log is vouched for only by checkpoints kept outside the database.

Reproductions: with no external checkpoint file configured, deleting every checkpoint row and rewriting
the chain passed verify; thousands of records with no checkpoint at all were not flagged; `--pubkey` did
not restrict trust, because the key file in the data directory was always trusted too. Now verify says
`unanchored` (exit 3) when nothing outside the database confirms the log, every checkpoint is appended to
`<data dir>/audit-checkpoints.jsonl` by default (or the configured file, or POSTed to a witness URL), and
`--pubkey` means only those keys.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from persona_mcp.audit import AuditLog
from persona_mcp.audit.chain import seal
from persona_mcp.audit.checkpoint import (
    CHECKPOINT_FILE,
    Checkpoint,
    append_external,
    checkpoint_anchor,
    read_checkpoint_file,
    sign_checkpoint,
)
from persona_mcp.audit.keys import load_signing_key
from persona_mcp.audit.record import GENESIS_HASH
from persona_mcp.audit.verify import BreakKind, VerifyStatus, verify_log
from persona_mcp.cli.audit import app
from persona_mcp.server.app import open_server
from persona_mcp.store import Store, create_store, upgrade
from persona_mcp.store.schema.audit import audit_checkpoints
from persona_mcp.testing import issue_grant, sandbox_app, sandbox_settings

from ._support import call_event, drop_append_only_triggers, execute, fill, replace_records

pytestmark = pytest.mark.anyio

runner = CliRunner()


# -- the attacker --------------------------------------------------------------------------------------------


async def _rewrite_chain(
    store: Store, count: int, *, sign_with: Ed25519PrivateKey | None = None
) -> Checkpoint | None:
    """Replace every record and checkpoint row with a recomputed chain (one that blames someone else);
    with a signing key, also sign a fresh checkpoint at its head, as the server would have."""
    await drop_append_only_triggers(store)
    await execute(store, "DELETE FROM audit_checkpoints")
    prev, rows = GENESIS_HASH, []
    for seq in range(1, count + 1):
        record, row = seal(
            call_event(seq, principal="someone-else"),
            seq=seq,
            prev_hash=prev,
            instance_id="forged",
            timestamp="2020-01-01T00:00:00.000000Z",
        )
        prev = record.hash
        rows.append(row)
    checkpoint = None
    if sign_with is not None:
        checkpoint = sign_checkpoint(
            sign_with,
            seq=count,
            hash_=prev,
            timestamp="2020-01-01T00:00:01.000000Z",
            instance_id="forged",
            count=count,
        )
    await replace_records(store, rows)
    if checkpoint is not None:
        async with store.engine.begin() as conn:
            await conn.execute(audit_checkpoints.insert(), [checkpoint.to_row()])
    return checkpoint


def _run_on(url: str, work: object) -> None:
    async def run() -> None:
        store = create_store(url)
        try:
            await upgrade(store)
            await work(store)  # type: ignore[operator]
        finally:
            await store.close()

    anyio.run(run)


# -- the CLI environment: a data directory and a database, seeded through the real writer --------------------


@pytest.fixture
def env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("PERSONA_MCP_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PERSONA_MCP_DATABASE_URL", database_url)
    monkeypatch.delenv("PERSONA_MCP_AUDIT_CHECKPOINT_LOCATION", raising=False)
    monkeypatch.delenv("PERSONA_MCP_CONFIG", raising=False)

    async def seed(store: Store) -> None:
        log = await AuditLog.open(store, data_dir=data_dir, instance_id="anchored", checkpoint_every=25)
        try:
            for start in range(0, 60, 5):  # batches end on multiples of 5: checkpoints at 25, 50, 60
                await fill(log, 5, start)
        finally:
            await log.aclose()

    _run_on(database_url, seed)
    yield data_dir


def _verify_json(*args: str) -> tuple[int, dict[str, object]]:
    result = runner.invoke(app, ["verify", "--json", *args])
    return result.exit_code, json.loads(result.output)


def test_a_closed_log_is_anchored_by_the_mirror_file_the_server_keeps_by_default(env: Path) -> None:
    lines = read_checkpoint_file(env / CHECKPOINT_FILE)
    assert [cp.seq for cp in lines] == [25, 50, 60], "every checkpoint, with no setting at all"

    code, report = _verify_json()
    assert (code, report["status"], report["anchored_through_seq"]) == (0, "ok", 60)


def test_a_rewrite_with_every_checkpoint_row_deleted_is_found_against_the_default_mirror(
    env: Path, database_url: str
) -> None:
    _run_on(database_url, lambda store: _rewrite_chain(store, 60))

    code, report = _verify_json()
    assert code == 1
    assert report["breaks"][0]["kind"] == "rewritten"  # type: ignore[index]


def test_the_same_rewrite_with_the_mirror_gone_too_is_unanchored_not_ok(env: Path, database_url: str) -> None:
    _run_on(database_url, lambda store: _rewrite_chain(store, 60))
    (env / CHECKPOINT_FILE).unlink()

    code, report = _verify_json()
    assert (code, report["status"], report["ok"], report["anchored_through_seq"]) == (
        3,
        "unanchored",
        False,
        0,
    )
    plain = runner.invoke(app, ["verify"])
    assert plain.exit_code == 3 and "UNANCHORED" in plain.output


def test_thousands_of_records_without_any_checkpoint_are_unanchored(env: Path, database_url: str) -> None:
    _run_on(database_url, lambda store: _rewrite_chain(store, 3000))
    (env / CHECKPOINT_FILE).unlink()

    code, report = _verify_json()
    assert (code, report["status"], report["records"], report["breaks"]) == (3, "unanchored", 3000, [])


def test_pubkey_means_only_these_keys_not_also_the_key_file_in_the_data_directory(
    env: Path, database_url: str, tmp_path: Path
) -> None:
    original = tmp_path / "original.pub"
    assert runner.invoke(app, ["pubkey", "--output", str(original)]).exit_code == 0
    # The attacker replaces the signing key, rewrites the chain and signs it with the new key: the
    # database's checkpoints and the mirror file then agree with the forgery.
    (env / "audit-signing.key").unlink()
    forged_key = load_signing_key(env / "audit-signing.key")
    holder: list[Checkpoint | None] = []

    async def rewrite(store: Store) -> None:
        holder.append(await _rewrite_chain(store, 60, sign_with=forged_key))

    _run_on(database_url, rewrite)
    forged = holder[0]
    assert forged is not None
    (env / CHECKPOINT_FILE).unlink()
    append_external(env / CHECKPOINT_FILE, [forged])

    assert _verify_json()[0] == 0, "trusting whatever key the data directory holds, the forgery passes"
    code, report = _verify_json("--pubkey", str(original))
    assert code == 1
    assert {b["kind"] for b in report["breaks"]} == {"bad_signature"}  # type: ignore[union-attr]


# -- a witness: every checkpoint POSTed to another party -----------------------------------------------------


@dataclass
class Witness:
    """A local HTTP witness that keeps every checkpoint POSTed to it (answering `status`)."""

    url: str = ""
    status: int = 200
    received: list[bytes] = field(default_factory=list)

    def export(self, path: Path) -> Path:
        path.write_bytes(b"".join(body + b"\n" for body in self.received))
        return path


@contextmanager
def running_witness() -> Iterator[Witness]:
    witness = Witness()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            if witness.status == 200 and self.headers["content-type"] == "application/json":
                witness.received.append(body)
            self.send_response(witness.status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    witness.url = f"http://127.0.0.1:{server.server_address[1]}/checkpoints?token=s3cret"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield witness
    finally:
        server.shutdown()
        server.server_close()


async def test_every_checkpoint_reaches_the_witness_whose_export_finds_a_rewrite_the_data_dir_hides(
    store: Store, data_dir: Path, tmp_path: Path
) -> None:
    with running_witness() as witness:
        log = await AuditLog.open(
            store,
            data_dir=data_dir,
            instance_id="witnessed",
            checkpoint_every=50,
            checkpoint_witness_url=witness.url,
        )
        try:
            for start in range(0, 120, 10):  # batches end on multiples of 10: checkpoints at 50, 100, 120
                await fill(log, 10, start)
        finally:
            await log.aclose()

    witnessed = [Checkpoint.model_validate_json(body) for body in witness.received]
    assert [cp.seq for cp in witnessed] == [50, 100, 120]
    mirror = data_dir / CHECKPOINT_FILE
    assert [cp.seq for cp in read_checkpoint_file(mirror)] == [50, 100, 120], "the local mirror is kept too"
    export = witness.export(tmp_path / "witness-export.jsonl")

    # Someone holding the data directory (and so the signing key) rewrites the log and re-signs it.
    forged = await _rewrite_chain(store, 120, sign_with=load_signing_key(data_dir / "audit-signing.key"))
    assert forged is not None
    mirror.unlink()
    append_external(mirror, [forged])
    trusted = [log.public_key]

    local = await verify_log(store, trusted_keys=trusted, external_checkpoints=read_checkpoint_file(mirror))
    assert local.status is VerifyStatus.OK, "the data directory alone cannot tell (docs/audit.md)"
    held = await verify_log(store, trusted_keys=trusted, external_checkpoints=read_checkpoint_file(export))
    first = held.first_break
    assert held.status is VerifyStatus.BROKEN and first is not None and first.kind is BreakKind.REWRITTEN


async def test_a_witness_that_refuses_makes_the_log_unhealthy_until_it_has_every_checkpoint(
    store: Store, data_dir: Path
) -> None:
    with running_witness() as witness:
        witness.status = 503
        log = await AuditLog.open(
            store,
            data_dir=data_dir,
            instance_id="refused",
            checkpoint_every=10,
            checkpoint_witness_url=witness.url,
        )
        try:
            await fill(log, 10)
            with anyio.fail_after(30):
                while log.health.ok:
                    await fill(log, 1, 100)
                    await anyio.sleep(0.05)
            reason = log.health.reason or ""
            assert "checkpoint witness" in reason and "503" in reason
            assert "s3cret" not in reason and "127.0.0.1" not in reason, "the URL may carry credentials"

            witness.status = 200
            with anyio.fail_after(30):
                while not log.health.ok or not witness.received:
                    await fill(log, 1, 200)
                    await anyio.sleep(0.05)
        finally:
            await log.aclose()

    assert Checkpoint.model_validate_json(witness.received[0]).seq == 10, "the refused one, delivered first"


async def test_the_server_sends_checkpoints_where_the_setting_says(tmp_path: Path, database_url: str) -> None:
    with running_witness() as witness:
        settings = sandbox_settings(tmp_path / "server", database_url=database_url).model_copy(
            update={"audit_checkpoint_location": witness.url}
        )
        upstream = sandbox_app("demo")
        from persona_mcp.sandbox.transport import SandboxTransport

        async with open_server(
            settings, transport="memory", persona_transport=SandboxTransport(upstream)
        ) as server:
            await issue_grant(server, ["audit:read"])
        assert witness.received, "the final checkpoint reached the witness"
    last = Checkpoint.model_validate_json(witness.received[-1])
    kept = read_checkpoint_file(tmp_path / "server" / CHECKPOINT_FILE)
    assert [cp.seq for cp in kept][-1] == last.seq


def test_the_location_setting_names_a_file_a_directory_or_a_witness(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert checkpoint_anchor(None, data_dir).file == data_dir / CHECKPOINT_FILE
    assert checkpoint_anchor(str(tmp_path / "x.jsonl"), data_dir).file == tmp_path / "x.jsonl"
    assert checkpoint_anchor(str(tmp_path), data_dir).file == tmp_path / CHECKPOINT_FILE
    witness = checkpoint_anchor("https://witness.example/cp", data_dir)
    assert (witness.file, witness.witness_url) == (data_dir / CHECKPOINT_FILE, "https://witness.example/cp")


def test_audit_checkpoint_writes_to_the_configured_file(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere" / "held.jsonl"
    monkeypatch.setenv("PERSONA_MCP_AUDIT_CHECKPOINT_LOCATION", str(elsewhere))
    (env / CHECKPOINT_FILE).unlink()

    made = runner.invoke(app, ["checkpoint"])
    assert made.exit_code == 0, made.output
    assert [cp.seq for cp in read_checkpoint_file(elsewhere)] == [60]
    code, report = _verify_json()
    assert (code, report["status"]) == (0, "ok"), "verify reads the configured file"
