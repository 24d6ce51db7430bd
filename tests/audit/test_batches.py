"""How the writer extends the chain batch by batch: checkpoints across writers, reconnecting, processes."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Generator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from persona_mcp.audit import AuditLog, AuditUnavailableError
from persona_mcp.audit.chain import HEAD_SQL, Batch, ChainPolicy
from persona_mcp.audit.committer import APPLICATION_NAME, SqliteCommitter
from persona_mcp.audit.committer_postgres import PostgresCommitter
from persona_mcp.audit.record import utc_timestamp
from persona_mcp.audit.verify import verify_log
from persona_mcp.store import Store, create_store, upgrade
from persona_mcp.store.engine import postgres_connect_kwargs
from persona_mcp.store.pg_pipeline import Pipeline, Wait

from ._support import call_event, fill

pytestmark = pytest.mark.anyio


async def _checkpoint_seqs(store: Store) -> list[int]:
    async with store.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT seq FROM audit_checkpoints ORDER BY seq"))).all()
    return [int(row[0]) for row in rows]


async def test_a_checkpoint_signed_by_another_writer_restarts_the_count_to_the_next_one(
    store: Store, data_dir: Path
) -> None:
    counting = await AuditLog.open(store, data_dir=data_dir, instance_id="a", checkpoint_every=10)
    other = await AuditLog.open(store, data_dir=data_dir, instance_id="b")
    try:
        for i in range(5):
            await counting.append(call_event(i))
        signed = await other.checkpoint()
        assert signed is not None and signed.seq == 5
        for i in range(5, 14):
            await counting.append(call_event(i))
        assert await _checkpoint_seqs(store) == [5], "9 records since the newest checkpoint: none due"
        await counting.append(call_event(14))
        assert await _checkpoint_seqs(store) == [5, 15]
    finally:
        await counting.aclose()
        await other.aclose()


async def test_asking_for_a_checkpoint_with_nothing_new_returns_the_newest_one(
    audit_log: AuditLog, store: Store
) -> None:
    assert await audit_log.checkpoint() is None, "an empty log has nothing to sign"
    await fill(audit_log, 3)

    first = await audit_log.checkpoint()
    again = await audit_log.checkpoint()

    assert first is not None and first.seq == 3
    assert again == first
    assert await _checkpoint_seqs(store) == [3]


# PostgreSQL only: an SQLite connection is a file handle, there is no server to end it.
@pytest.mark.postgres
async def test_the_writer_fails_closed_when_its_connection_is_killed_and_reconnects_for_the_next_batch(
    postgres_schema_url: str, data_dir: Path
) -> None:
    # A name of this test's own, so that only its writer is ended, not those of tests running beside it
    # on the same database (they all share the default APPLICATION_NAME).
    name = f"{APPLICATION_NAME} {uuid.uuid4().hex[:12]}"
    store = create_store(f"{postgres_schema_url}&application_name={quote(name)}")
    await upgrade(store)
    audit_log = await AuditLog.open(store, data_dir=data_dir, instance_id="test-instance")
    try:
        await audit_log.append(call_event(1))
        async with store.engine.connect() as conn:
            ended = (
                await conn.execute(
                    text(
                        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND application_name = :name "
                        "AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
            ).scalar_one()
        assert ended >= 1

        with pytest.raises(AuditUnavailableError):
            await audit_log.append(call_event(2))
        assert not audit_log.health.ok

        record = await audit_log.append(call_event(3))
        assert record.seq == 2
        assert audit_log.health.ok
        assert (await verify_log(store, trusted_keys=[audit_log.public_key])).ok
    finally:
        await audit_log.aclose()
        await store.close()


async def _records(store: Store) -> list[tuple[int, str, str]]:
    async with store.engine.connect() as conn:
        rows = (
            await conn.execute(text("SELECT seq, instance_id, call_id FROM audit_records ORDER BY seq"))
        ).all()
    return [(int(row[0]), str(row[1]), str(row[2])) for row in rows]


async def test_a_writer_alone_on_the_chain_commits_each_batch_on_the_head_it_left_without_reading_it(
    store: Store, data_dir: Path
) -> None:
    log = await AuditLog.open(store, data_dir=data_dir, instance_id="alone", checkpoint_every=1000)
    try:
        for i in range(6):
            await log.append(call_event(i))
        committer = log.committer
        assert committer is not None
        assert committer.known_head_commits == 5, (
            "the first batch reads the head; the next five extend their own"
        )
        assert committer.head_moves == 0
        assert [seq for seq, _, _ in await _records(store)] == [1, 2, 3, 4, 5, 6]
        assert (await verify_log(store, trusted_keys=[log.public_key])).ok
    finally:
        await log.aclose()


async def test_a_batch_sealed_on_a_head_another_writer_moved_commits_nothing_and_is_sealed_on_the_new_head(
    store: Store, data_dir: Path
) -> None:
    first = await AuditLog.open(store, data_dir=data_dir, instance_id="first", checkpoint_every=1000)
    second = await AuditLog.open(store, data_dir=data_dir, instance_id="second", checkpoint_every=1000)
    try:
        await first.append(call_event(1))
        await first.append(call_event(2))
        for i in range(3, 6):
            await second.append(call_event(i))

        record = await first.append(call_event(6))

        committer = first.committer
        assert committer is not None
        assert committer.head_moves == 1, "sealed as seq 3, which the other writer had taken"
        assert record.seq == 6
        assert await _records(store) == [
            (1, "first", "call-1"),
            (2, "first", "call-2"),
            (3, "second", "call-3"),
            (4, "second", "call-4"),
            (5, "second", "call-5"),
            (6, "first", "call-6"),
        ]
        await first.append(call_event(7))
        assert committer.known_head_commits == 2, (
            "after a move, the head read under the lock is its own again"
        )
        assert (await verify_log(store, trusted_keys=[first.public_key])).ok
    finally:
        await first.aclose()
        await second.aclose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_postgresql_batch_on_the_head_the_writer_left_is_one_message_and_one_wait(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18: in pipeline mode a batch of four records waited on the network twelve times (a message
    per statement), and each return is the writer thread taking the GIL back from a busy event loop. Now
    the lock and every statement go in one message, run by PostgreSQL as one transaction: one wait."""
    committer = PostgresCommitter(_counted_policy(), postgres_connect_kwargs(store), store.bounds)
    try:
        committer.commit(Batch(events=[call_event(0).model_dump(mode="json")]))  # reads the head
        waits: list[Wait] = []
        real_exchange = Pipeline._exchange

        def counted(self: Pipeline, send: Any) -> Generator[Wait, None, Any]:
            exchange = real_exchange(self, send)
            try:
                wait = next(exchange)
                while True:
                    waits.append(wait)
                    yield wait
                    wait = exchange.send(None)
            except StopIteration as done:
                return done.value

        monkeypatch.setattr(Pipeline, "_exchange", counted)
        events = [call_event(i, call_id=f"call-{i}").model_dump(mode="json") for i in (1, 2, 3, 4)]
        committed = committer.commit(Batch(events=events))
        monkeypatch.undo()

        assert waits == [Wait.READ], f"{len(waits)} waits on the network for one batch"
        assert [record.seq for record in committed.records] == [2, 3, 4, 5]
        assert [call_id for _, _, call_id in await _records(store)] == [f"call-{i}" for i in range(5)]
    finally:
        committer.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_postgresql_batch_runs_statements_prepared_once_for_the_connection(store: Store) -> None:
    """Issue 18: a batch sent as one multi-statement query was parsed and planned by PostgreSQL every time,
    its values quoted into the text on the client. Now the statements are prepared when the connection
    opens and every batch executes them: PostgreSQL counts each record's insert as a run of the one
    prepared statement."""
    committer = PostgresCommitter(_counted_policy(), postgres_connect_kwargs(store), store.bounds)
    try:
        committer.commit(Batch(events=[call_event(0).model_dump(mode="json")]))
        events = [call_event(i, call_id=f"call-{i}").model_dump(mode="json") for i in (1, 2, 3)]
        committer.commit(Batch(events=events))
        conn = committer._conn
        assert conn is not None
        runs = conn.execute(
            "SELECT generic_plans + custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE 'INSERT INTO audit_records %'"
        ).fetchall()
        assert runs == [(4,)], "each of the four records inserted by the one prepared statement"
        assert committer.known_head_commits == 1
    finally:
        committer.close()


def _counted_policy() -> ChainPolicy:
    return ChainPolicy(
        instance_id="counted",
        signing_key=Ed25519PrivateKey.generate(),
        checkpoint_every=100_000,
        clock=utc_timestamp,
    )


HOSTILE = (
    "o'brien",
    "back\\slash \\' and \\\\",
    "'); DROP TABLE audit_records; --",
    "$$ dollar $tag$ quoted $$",
    "%s %(name)s %% {} {0}",
    "new\nline\ttab\r",
    "ünïcödé 漢字 🙂",
    "E'\\x41'",
)


async def test_values_bound_into_one_message_are_stored_exactly_as_given(
    store: Store, data_dir: Path
) -> None:
    """The batch's values are bound by psycopg on the client (PostgreSQL) into one message: quotes,
    backslashes, placeholders and dollar quotes reach the table as given, and every record verifies."""
    log = await AuditLog.open(store, data_dir=data_dir, instance_id="hostile", checkpoint_every=1000)
    try:
        for i, value in enumerate(HOSTILE):
            await log.append(call_event(i, principal=value, tool=value, call_id=value))
        async with store.engine.connect() as conn:
            rows = await conn.execute(text("SELECT principal, tool, call_id FROM audit_records ORDER BY seq"))
            assert [tuple(row) for row in rows] == [(value, value, value) for value in HOSTILE]
        assert (await verify_log(store, trusted_keys=[log.public_key])).ok
    finally:
        await log.aclose()


class _TracedSqliteCommitter(SqliteCommitter):
    """The shipped committer, with every statement its connection runs written down."""

    statements: list[str]

    def _connect(self) -> sqlite3.Connection:
        conn = super()._connect()
        self.statements = []
        conn.set_trace_callback(self.statements.append)
        return conn


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_batch_on_the_head_the_writer_left_does_not_read_the_head_again(store: Store) -> None:
    """SQLite's half of the one-message test above: the batch is sealed on the head the previous batch
    left, so its transaction reads nothing before it writes."""
    policy = ChainPolicy(
        instance_id="counted",
        signing_key=Ed25519PrivateKey.generate(),
        checkpoint_every=100_000,
        clock=utc_timestamp,
    )
    assert store.engine.url.database is not None
    committer = _TracedSqliteCommitter(policy, store.engine.url.database, synchronous=2, busy_timeout_ms=5000)
    try:
        committer.commit(Batch(events=[call_event(0).model_dump(mode="json")]))
        assert any(sql == HEAD_SQL for sql in committer.statements), "the first batch reads the head"
        committer.statements.clear()

        committed = committer.commit(Batch(events=[call_event(i).model_dump(mode="json") for i in (1, 2, 3)]))

        assert committer.statements[0] == "BEGIN IMMEDIATE"
        assert committer.statements[1].startswith("INSERT INTO audit_records"), committer.statements
        assert HEAD_SQL not in committer.statements
        assert [record.seq for record in committed.records] == [2, 3, 4]
    finally:
        committer.close()
    assert (await verify_log(store, trusted_keys=[policy.signing_key.public_key()])).ok
