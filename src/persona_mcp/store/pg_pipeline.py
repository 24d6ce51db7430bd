"""Statements sent to PostgreSQL through libpq's pipeline mode, prepared once per connection: the audit
writer's batches (`audit/committer_postgres.py`) and the shared rate window's swap
(`server/upstream_windows.py`), the statements this server runs on every call.

Each statement is prepared when the connection opens; a run is a list of executions (a prepared
statement and its values, dumped by psycopg's own adapters) written in one go with a Sync at the end, then
read back up to that Sync: one round trip, with no values quoted into SQL text on the client and nothing
parsed or planned again by PostgreSQL. Measured for the audit's batches, which used to be one
multi-statement query with their values quoted in (issue 18, benchmarks/README.md): 0.16-0.35 ms less from
an append to its durable commit, 80-120 us less of the event loop's CPU an append.

Statements between two Syncs are one transaction: PostgreSQL commits the implicit one at the Sync if no
statement failed and rolls it back otherwise; inside an explicit `BEGIN` the Sync leaves it open.

A run is driven by a generator that yields what it waits for (`Wait`), so that the same exchange runs on
a thread, blocking in a selector (`run`), and on the event loop, awaiting the socket there
(`run_awaited`), on a psycopg connection of either kind: psycopg itself is bypassed for the run, so the
caller keeps anything else off the connection meanwhile.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Generator, Sequence
from enum import IntFlag
from typing import Any

import psycopg
from psycopg.adapt import PyFormat, Transformer
from psycopg.pq import ExecStatus

#: One execution: a statement `Pipeline` prepared (as written, `%s` markers) and its values.
Execution = tuple[str, Sequence[Any]]

_SUCCEEDED = (ExecStatus.COMMAND_OK, ExecStatus.TUPLES_OK)


class Wait(IntFlag):
    """What the exchange waits for on the connection's socket before going on."""

    READ = 1
    WRITE = 2


#: A running exchange: yields what it waits for, returns the rows it read.
_Exchange = Generator["Wait", None, list[tuple[Any, ...]]]


class Pipeline:
    """The statements of one connection (`%s` markers, as psycopg writes them), and the way to run them as
    one pipeline once `prepare` (or `prepare_awaited`) has prepared them on it.

    Prepared statements last as long as the session: a new connection needs a new `Pipeline`."""

    def __init__(self, conn: psycopg.BaseConnection[Any], statements: Sequence[str]) -> None:
        self._conn = conn
        self._dumper = Transformer(conn)
        self._loader = Transformer(conn)
        # Per statement: its prepared name, and the format of each of its values (the list psycopg's
        # `dump_sequence` asks for, built once rather than for every execution).
        self._prepared = {
            sql: (f"persona_mcp_{i}".encode(), [PyFormat.TEXT] * sql.count("%s"))
            for i, sql in enumerate(dict.fromkeys(statements))
        }

    def prepare(self) -> None:
        """Prepare every statement on the connection, in one round trip, blocking this thread."""
        self._drive_blocking(self._exchange(self._send_prepares))

    async def prepare_awaited(self) -> None:
        """`prepare` from the event loop."""
        await self._drive_awaited(self._exchange(self._send_prepares))

    def run(self, executions: Sequence[Execution]) -> list[tuple[Any, ...]]:
        """Run `executions` as one pipeline, blocking this thread while the socket is not ready; the
        rows of the last execution that returns rows. Raises the first error, as psycopg would."""
        return self._drive_blocking(self._exchange(lambda: self._send_executions(executions)))

    async def run_awaited(self, executions: Sequence[Execution]) -> list[tuple[Any, ...]]:
        """`run` from the event loop: the socket's readiness awaited there, the loop never blocked."""
        return await self._drive_awaited(self._exchange(lambda: self._send_executions(executions)))

    async def _drive_awaited(self, exchange: _Exchange) -> list[tuple[Any, ...]]:
        try:
            wait = next(exchange)
            while True:
                await _ready(self._conn.pgconn.socket, wait)
                wait = exchange.send(None)
        except StopIteration as done:
            rows: list[tuple[Any, ...]] = done.value
            return rows

    def _drive_blocking(self, exchange: _Exchange) -> list[tuple[Any, ...]]:
        fd = self._conn.pgconn.socket
        try:
            wait = next(exchange)
        except StopIteration as done:
            answered: list[tuple[Any, ...]] = done.value
            return answered
        with selectors.DefaultSelector() as selector:
            selector.register(fd, _events(wait))
            try:
                while True:
                    selector.select()
                    waited, wait = wait, exchange.send(None)
                    if wait != waited:
                        selector.modify(fd, _events(wait))
            except StopIteration as done:
                rows: list[tuple[Any, ...]] = done.value
                return rows

    def _send_prepares(self) -> None:
        encoding = self._conn.info.encoding
        for sql, (name, _formats) in self._prepared.items():
            self._conn.pgconn.send_prepare(name, numbered(sql).encode(encoding))

    def _send_executions(self, executions: Sequence[Execution]) -> None:
        pgconn, dump = self._conn.pgconn, self._dumper.dump_sequence
        for sql, values in executions:
            name, formats = self._prepared[sql]
            pgconn.send_query_prepared(name, dump(values, formats) if values else None)

    def _exchange(self, send: Callable[[], None]) -> _Exchange:
        """What `send` sends and a Sync, then every result read up to the Sync's.

        While libpq cannot write everything at once the exchange also reads, so that neither end waits
        on a full buffer of the other. Left in pipeline mode if interrupted: the caller then drops the
        connection (the committer does on any failure)."""
        conn, pgconn = self._conn, self._conn.pgconn
        pgconn.enter_pipeline_mode()
        send()
        pgconn.pipeline_sync()
        while pgconn.flush():
            yield Wait.READ | Wait.WRITE
            pgconn.consume_input()
        failed: psycopg.pq.abc.PGresult | None = None
        rows: psycopg.pq.abc.PGresult | None = None
        while True:
            pgconn.consume_input()
            if pgconn.is_busy():
                yield Wait.READ
                continue
            result = pgconn.get_result()
            if result is None:  # the end of one execution's results
                continue
            if result.status == ExecStatus.PIPELINE_SYNC:
                break
            if result.status == ExecStatus.TUPLES_OK:
                rows = result
            elif failed is None and result.status not in _SUCCEEDED:
                failed = result
        pgconn.exit_pipeline_mode()
        if failed is not None:
            _raise_if_failed(conn, failed)
        if rows is None:
            return []
        self._loader.set_pgresult(rows)
        return self._loader.load_rows(0, rows.ntuples, tuple)


def numbered(sql: str) -> str:
    """`sql` with its `%s` markers numbered as PostgreSQL's own parameters (`$1`, `$2`, ...). Any other `%`
    (psycopg's `%%`, a named `%(name)s`) would be sent as written: refused."""
    first, *rest = sql.split("%s")
    if any("%" in part for part in (first, *rest)):
        raise ValueError(f"only positional %s markers can be numbered: {sql!r}")
    return first + "".join(f"${i}{part}" for i, part in enumerate(rest, 1))


def _raise_if_failed(conn: psycopg.BaseConnection[Any], result: psycopg.pq.abc.PGresult) -> None:
    if result.status not in _SUCCEEDED:
        raise psycopg.errors.error_from_result(result, encoding=conn.info.encoding)


def _events(wait: Wait) -> int:
    return (selectors.EVENT_READ if wait & Wait.READ else 0) | (
        selectors.EVENT_WRITE if wait & Wait.WRITE else 0
    )


async def _ready(fd: int, wait: Wait) -> None:
    """Until `fd` is ready for one of what `wait` names, awaited on the running loop."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    if wait & Wait.READ:
        loop.add_reader(fd, wake)
    if wait & Wait.WRITE:
        loop.add_writer(fd, wake)
    try:
        await ready
    finally:
        if wait & Wait.READ:
            loop.remove_reader(fd)
        if wait & Wait.WRITE:
            loop.remove_writer(fd)


__all__ = ["Execution", "Pipeline", "Wait", "numbered"]
