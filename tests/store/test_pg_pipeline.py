"""`store.pg_pipeline`: statements prepared once per connection and run as one pipeline up to a Sync, on a
thread (blocking) or awaited on the event loop, on the real PostgreSQL. The audit writer relies on a
pipeline being one transaction (a batch on a moved head commits nothing) and on errors coming back as
psycopg's own exceptions."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from importlib.util import find_spec
from typing import Any

import psycopg
import pytest

from persona_mcp.store.pg_pipeline import Pipeline, numbered

INSERT = "INSERT INTO items (id, name) VALUES (%s, %s)"
FROM = "SELECT id, name FROM items WHERE id >= %s ORDER BY id"
HOSTILE = "o'brien \\ $$ dollar $$ %s %% E'\\x41' 漢字"


@pytest.fixture
def conn(postgres_schema_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(postgres_schema_url, autocommit=True) as connection:
        connection.execute("CREATE TABLE items (id integer PRIMARY KEY, name text)")
        yield connection


@pytest.fixture
def pipeline(conn: psycopg.Connection[Any]) -> Pipeline:
    """The two statements, prepared on `conn`."""
    prepared = Pipeline(conn, [INSERT, FROM])
    prepared.prepare()
    return prepared


def _ids(conn: psycopg.Connection[Any]) -> list[int]:
    return [row[0] for row in conn.execute("SELECT id FROM items ORDER BY id").fetchall()]


@pytest.mark.postgres
def test_a_pipeline_returns_the_rows_of_its_last_statement_that_returns_rows(pipeline: Pipeline) -> None:
    rows = pipeline.run([(INSERT, (1, HOSTILE)), (INSERT, (2, None)), (FROM, (0,))])
    assert rows == [(1, HOSTILE), (2, None)], "values stored exactly as given, NULL as None"
    assert pipeline.run([(INSERT, (3, "three"))]) == []


@pytest.mark.postgres
def test_the_executions_up_to_the_sync_are_one_transaction_rolled_back_whole_on_an_error(
    conn: psycopg.Connection[Any], pipeline: Pipeline
) -> None:
    pipeline.run([(INSERT, (1, "one"))])
    with pytest.raises(psycopg.errors.UniqueViolation):
        pipeline.run([(INSERT, (2, "two")), (INSERT, (1, "again")), (INSERT, (3, "three"))])
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert _ids(conn) == [1], "the insert before the failing one was rolled back with it"
    assert pipeline.run([(FROM, (0,))]) == [(1, "one")], "the connection and its statements still serve"


@pytest.mark.postgres
@pytest.mark.anyio
@pytest.mark.parametrize(
    "anyio_backend",
    [
        pytest.param(("asyncio", {}), id="asyncio"),
        pytest.param(
            ("asyncio", {"use_uvloop": True}),
            id="uvloop",
            marks=pytest.mark.skipif(
                find_spec("uvloop") is None, reason="uvloop (the fast extra) not installed"
            ),
        ),
    ],
)
async def test_awaited_runs_on_either_event_loop_the_server_may_use(
    conn: psycopg.Connection[Any], pipeline: Pipeline, postgres_schema_url: str, anyio_backend: Any
) -> None:
    """The audit writer awaits runs on its blocking connection; the rate window on an asynchronous one."""
    on_uvloop = type(asyncio.get_running_loop()).__module__.startswith("uvloop")
    assert on_uvloop == bool(anyio_backend[1])
    assert await pipeline.run_awaited([(INSERT, (1, HOSTILE)), (FROM, (0,))]) == [(1, HOSTILE)]
    with pytest.raises(psycopg.errors.UniqueViolation):
        await pipeline.run_awaited([(INSERT, (2, "two")), (INSERT, (1, "again"))])
    assert _ids(conn) == [1]

    async with await psycopg.AsyncConnection.connect(postgres_schema_url, autocommit=True) as other:
        awaited = Pipeline(other, [FROM])
        await awaited.prepare_awaited()
        assert await awaited.run_awaited([(FROM, (1,))]) == [(1, HOSTILE)]


def test_positional_markers_are_numbered_in_order() -> None:
    assert numbered("UPDATE t SET a = %s WHERE b = %s AND c IS NOT DISTINCT FROM %s") == (
        "UPDATE t SET a = $1 WHERE b = $2 AND c IS NOT DISTINCT FROM $3"
    )
    assert numbered("COMMIT") == "COMMIT"


@pytest.mark.parametrize("sql", ["SELECT 1 WHERE a LIKE 'x%%'", "SELECT %(name)s", "SELECT '%' || %s"])
def test_any_other_percent_sign_is_refused_rather_than_sent_as_written(sql: str) -> None:
    with pytest.raises(ValueError, match="only positional %s markers"):
        numbered(sql)
