"""Replicas sharing PostgreSQL spend one Persona budget together (issue 11, case 1), on the real database.

Each "replica" is its own engine, rate gate and client (or its own whole server) on one migrated schema;
the upstream is one sandbox, whose window is long enough that it never resets during a test.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import httpx2
import psycopg
import pytest
from mcp import Client
from sqlalchemy import text
from starlette.applications import Starlette

from persona_mcp.persona import (
    ApiKeyCredential,
    PersonaClient,
    RateGate,
    RateLimitedError,
    RetryPolicy,
    ratelimit,
)
from persona_mcp.persona.ratelimit import LocalLedger, Step, WindowLedger
from persona_mcp.persona.retry import RateLimitInfo
from persona_mcp.sandbox import DEFAULT_API_KEY, Faults, SandboxConfig, create_app
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.server.app import open_server
from persona_mcp.server.callers import StaticTokenCallers
from persona_mcp.server.upstream_windows import (
    IDLE_IN_TRANSACTION_TIMEOUT_MS,
    POST_DELAY_S,
    TAKE_AHEAD,
    SharedLedger,
)
from persona_mcp.store import Store, create_store, upgrade
from persona_mcp.testing import issue_grant, sandbox_app, sandbox_settings

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

SANDBOX_URL = "http://sandbox.test/api/v1"
WINDOW_SECONDS = 600.0


class CountingTransport(httpx2.AsyncBaseTransport):
    """The sandbox over ASGI, counting its answers by status."""

    def __init__(self, sandbox: Starlette) -> None:
        self._inner = SandboxTransport(sandbox)
        self.statuses: list[int] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        self.statuses.append(response.status_code)
        return response


def _sandbox(limit: int) -> Starlette:
    # Answers take a while, so requests of both replicas are in flight together, as over a network.
    faults = Faults(rate_limit_per_minute=limit, rate_limit_window_seconds=WINDOW_SECONDS, latency_ms=20)
    return create_app(SandboxConfig(faults=faults))


@pytest.fixture
async def stores(postgres_schema_url: str) -> AsyncIterator[tuple[Store, Store]]:
    """Two engines on one schema: two replicas' connections to the shared database."""
    first, second = create_store(postgres_schema_url), create_store(postgres_schema_url)
    await upgrade(first)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def _client(ledger: WindowLedger, transport: httpx2.AsyncBaseTransport, take_ahead: int = 0) -> PersonaClient:
    return PersonaClient(
        base_url=SANDBOX_URL,
        credentials=ApiKeyCredential(DEFAULT_API_KEY),
        transport=transport,
        retry=RetryPolicy(max_retries=2, budget_seconds=1.0),
        # Unpaced, so the window's last requests go out at once too and the count is exact.
        rate_gate=RateGate(ledger, slow_down_below=0.0, take_ahead=take_ahead),
    )


def _replica(store: Store, transport: httpx2.AsyncBaseTransport) -> PersonaClient:
    return _client(SharedLedger(store), transport).bind(rate_budget="sandbox")


async def test_two_replicas_sharing_postgresql_spend_one_budget_together(stores: tuple[Store, Store]) -> None:
    upstream = CountingTransport(_sandbox(limit=40))
    first, second = (_replica(store, upstream) for store in stores)
    await first.get("/accounts")  # the window opens; Persona's limit is now known to both
    refused: list[float] = []

    async def agent(replica: PersonaClient) -> None:
        try:
            await replica.get("/accounts")
        except RateLimitedError as held:
            assert held.attempts == 0 and held.retry_after is not None
            refused.append(held.retry_after)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            for replica in (first, second):
                for _ in range(32):
                    group.start_soon(agent, replica)

    assert upstream.statuses.count(429) == 0
    assert upstream.statuses.count(200) == 40  # the whole window, spent once between the two
    assert len(refused) == 64 - 39 and max(refused) <= WINDOW_SECONDS


async def test_concurrent_steps_share_the_budget_rows_transactions_and_keep_the_count_exact(
    stores: tuple[Store, Store],
) -> None:
    """Issue 18, point 5: two steps per upstream request, one transaction per step behind a per-budget
    lock, was a serial section that set the pace under load; steps arriving together now share one."""
    upstream = CountingTransport(_sandbox(limit=40))
    ledger = SharedLedger(stores[0])
    replica = _client(ledger, upstream).bind(rate_budget="sandbox")
    await replica.get("/accounts")
    before = ledger.transactions
    refused = 0

    async def agent() -> None:
        nonlocal refused
        try:
            await replica.get("/accounts")
        except RateLimitedError:
            refused += 1

    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            for _ in range(32):
                group.start_soon(agent)

    assert upstream.statuses.count(200) == 33 and refused == 0 and upstream.statuses.count(429) == 0
    steps = 2 * 32  # a permit and its answer per request
    assert ledger.transactions - before < steps / 4, f"{ledger.transactions - before} transactions"


async def test_a_replica_that_never_called_holds_back_when_another_spent_the_window(
    stores: tuple[Store, Store],
) -> None:
    upstream = CountingTransport(_sandbox(limit=2))
    first, second = (_replica(store, upstream) for store in stores)
    await first.get("/accounts")
    await first.get("/accounts")  # answered with RateLimit-Remaining: 0
    with pytest.raises(RateLimitedError) as held:
        await second.get("/accounts")
    assert held.value.attempts == 0 and upstream.statuses == [200, 200]
    assert held.value.retry_after is not None and held.value.retry_after <= WINDOW_SECONDS


async def test_a_row_locked_by_a_stalled_replica_delays_pacing_by_the_lock_timeout_not_for_ever(
    stores: tuple[Store, Store],
) -> None:
    first, second = stores
    gate = RateGate(SharedLedger(first))
    admission = await gate.admit("sandbox")
    assert admission.permit is not None
    admission.permit.give_back()
    async with second.engine.connect() as stalled:
        await stalled.execute(
            text("SELECT * FROM upstream_rate_windows WHERE budget = 'sandbox' FOR UPDATE")
        )  # a replica holding the row, then stopping inside its transaction
        with anyio.fail_after(10):
            late = await gate.admit("sandbox")  # falls back to this replica's memory after the timeout
        assert late.permit is not None
        await stalled.rollback()


async def _activity(store: Store, pid: int) -> tuple[str, str | None] | None:
    """The session's state and what it waits on; None once it has ended."""
    async with store.engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT state, wait_event FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            )
        ).first()
    return None if row is None else (str(row[0]), row[1])


async def test_a_replica_frozen_between_pipelined_messages_loses_the_row_to_the_next_replica_timing_out_on_it(
    stores: tuple[Store, Store], postgres_schema_url: str
) -> None:
    """Reproduction: a replica frozen after sending its row's UPDATE, before its COMMIT, held the row for
    good (PostgreSQL shows such a session as active, waiting on its client, and arms no idle timer), so
    every other replica's every permit waited out the lock timeout before pacing from memory."""
    first, _ = stores
    from_memory = _CountingLedger(LocalLedger())  # where a step goes when the shared row is not granted
    gate = RateGate(SharedLedger(first, fallback=from_memory))
    admission = await gate.admit("sandbox")  # the row exists
    assert admission.permit is not None
    admission.permit.give_back()

    # The frozen replica: its rate-window session, in pipeline mode, the row locked and written, its
    # COMMIT and Sync not sent; then nothing more from it, as from a stopped process.
    frozen = psycopg.connect(postgres_schema_url, autocommit=True, application_name="persona-mcp rate window")
    try:
        frozen.pgconn.enter_pipeline_mode()
        for statement in (
            "BEGIN",
            "SELECT * FROM upstream_rate_windows WHERE budget = 'sandbox' FOR UPDATE",
            "UPDATE upstream_rate_windows SET remaining = remaining WHERE budget = 'sandbox'",
        ):
            frozen.pgconn.send_query_params(statement.encode(), None)
        while frozen.pgconn.flush():
            await anyio.sleep(0.01)
        pid = frozen.info.backend_pid
        with anyio.fail_after(10):
            while await _activity(first, pid) != ("active", "ClientRead"):  # the case under test
                await anyio.sleep(0.05)

        # The other replica keeps admitting (from memory while the row is held) and, once the frozen
        # session has waited on its client for longer than the lease, ends it and has the row again.
        with anyio.fail_after(IDLE_IN_TRANSACTION_TIMEOUT_MS / 1000 + 20):
            while await _activity(first, pid) is not None:
                late = await gate.admit("sandbox")
                assert late.permit is not None
                late.permit.give_back()
        assert from_memory.awaited >= 1, "paced from memory while the frozen replica held the row"
        before = from_memory.awaited
        again = await gate.admit("sandbox")
        assert again.permit is not None
        again.permit.give_back()
        assert from_memory.awaited == before, "paced on the shared row again"
    finally:
        frozen.pgconn.finish()


async def test_servers_on_one_postgresql_store_share_the_budget_of_their_environment(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    upstream = sandbox_app()
    faults = upstream.state.sandbox.faults
    faults.rate_limit_per_minute, faults.rate_limit_window_seconds = 3, WINDOW_SECONDS
    async with AsyncExitStack() as stack:
        replicas = []
        for name in ("a", "b"):
            settings = sandbox_settings(
                tmp_path / name, database_url=postgres_schema_url, retry_budget_seconds=1.0
            )
            app = await stack.enter_async_context(
                open_server(
                    settings,
                    transport="memory",
                    persona_transport=SandboxTransport(upstream),
                    instance_id=f"replica-{name}",
                )
            )
            assert isinstance(app.caller_source, StaticTokenCallers)
            app.caller_source.token = await issue_grant(app, ["accounts:read"], principal=f"agent-{name}")
            replicas.append(app)

        first = await stack.enter_async_context(Client(replicas[0].server))
        second = await stack.enter_async_context(Client(replicas[1].server))
        for _ in range(3):
            result = await first.call_tool("list_accounts", {})
            assert not result.is_error, result.content
        spent = sum(upstream.state.sandbox.counters.values())

        held = await second.call_tool("list_accounts", {})
        assert held.is_error
        message = held.content[0].text  # type: ignore[union-attr]
        wait = re.search(r"wait ([0-9.]+) s", message)
        assert wait is not None and float(wait.group(1)) <= WINDOW_SECONDS, message
        assert sum(upstream.state.sandbox.counters.values()) == spent, "nothing was sent for replica b"


class _CountingLedger:
    """A shared ledger that counts what the client awaits (`update`) and what it only posts."""

    def __init__(self, inner: WindowLedger) -> None:
        self.inner = inner
        self.awaited = 0
        self.posted = 0

    async def update(self, key: str, step: Step[Any]) -> Any:
        self.awaited += 1
        return await self.inner.update(key, step)

    def post(self, key: str, step: Step[Any]) -> None:
        self.posted += 1
        self.inner.post(key, step)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_an_upstream_request_waits_for_one_shared_transaction_and_posts_its_answer(
    stores: tuple[Store, Store],
) -> None:
    """Issue 18: the permit is awaited; Persona's answer joins the next transaction, nobody waits."""
    upstream = CountingTransport(_sandbox(limit=40))
    ledger = _CountingLedger(SharedLedger(stores[0]))
    replica = _client(ledger, upstream)
    async with replica:
        await replica.bind(rate_budget="sandbox").get("/accounts")
        assert (ledger.awaited, ledger.posted) == (1, 1)
    # Closing the client applied the posted answer: the row holds what Persona said, and no permit.
    async with stores[1].engine.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM upstream_rate_windows WHERE budget = 'sandbox'"))).one()
    assert (row.request_limit, row.remaining, row.in_flight, row.heard) == (40, 39, 0, True)


async def test_a_posted_step_applies_before_any_step_asked_after_it(stores: tuple[Store, Store]) -> None:
    ledger = SharedLedger(stores[0])
    gate = RateGate(ledger, slow_down_below=0.0)
    try:
        first = await gate.admit("sandbox")
        assert first.permit is not None
        first.permit.answered(RateLimitInfo(limit=1, remaining=0, reset=WINDOW_SECONDS))  # posted
        second = await gate.admit("sandbox")  # asked after: must see the window spent
        assert second.permit is None and 0 < second.wait <= WINDOW_SECONDS
    finally:
        await ledger.aclose()


async def test_an_answer_rides_with_the_next_permit_or_goes_alone_shortly_after(
    stores: tuple[Store, Store],
) -> None:
    """Issue 18: one transaction per upstream request, not two; a last answer is applied within
    `POST_DELAY_S` all the same."""
    upstream = CountingTransport(_sandbox(limit=40))
    ledger = SharedLedger(stores[0])
    replica = _client(ledger, upstream)
    async with replica:
        bound = replica.bind(rate_budget="sandbox")
        await bound.get("/accounts")
        await bound.get("/accounts")  # its permit's transaction carries the first answer
        assert ledger.transactions == 2
        await anyio.sleep(POST_DELAY_S * 4)
        assert ledger.transactions == 3  # the second answer, alone
        async with stores[1].engine.connect() as conn:
            row = (
                await conn.execute(text("SELECT * FROM upstream_rate_windows WHERE budget = 'sandbox'"))
            ).one()
        assert (row.remaining, row.in_flight) == (38, 0)


async def test_a_replica_that_has_seen_the_row_applies_each_batch_by_one_compare_and_swap(
    stores: tuple[Store, Store],
) -> None:
    """Issue 18: after its first locked read, a lone replica's batches are single statements."""
    ledger = SharedLedger(stores[0])
    gate = RateGate(ledger, slow_down_below=0.0)
    try:
        await _answered_permits(gate, 3)
        assert (ledger.transactions, ledger.swaps) == (3, 2)
    finally:
        await ledger.aclose()
    async with stores[1].engine.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM upstream_rate_windows WHERE budget = 'sandbox'"))).one()
    assert (row.remaining, row.in_flight) == (30, 0)


async def test_the_swap_is_one_statement_prepared_when_the_connection_opened(
    stores: tuple[Store, Store],
) -> None:
    """Issue 18: every call's permit costs a swap on the event loop. It runs the statement prepared once
    for the connection (`store.pg_pipeline`), not psycopg's query machinery: PostgreSQL counts each swap
    as a run of that one prepared statement."""
    ledger = SharedLedger(stores[0])
    gate = RateGate(ledger, slow_down_below=0.0)
    try:
        await _answered_permits(gate, 4)
        assert ledger.swaps == 3
        conn = ledger._conn
        assert conn is not None
        runs = await (
            await conn.execute(
                "SELECT generic_plans + custom_plans FROM pg_prepared_statements "
                "WHERE name LIKE 'persona_mcp_%%' AND statement LIKE 'UPDATE upstream_rate_windows %%'"
            )
        ).fetchall()
        assert runs == [(3,)]
    finally:
        await ledger.aclose()


async def test_a_swap_on_a_connection_the_database_ended_falls_back_and_the_next_connection_prepares_it_again(
    stores: tuple[Store, Store],
) -> None:
    """The swap's prepared statement lives as long as its session: when PostgreSQL ends the session, that
    batch paces from this replica's memory (as any failure of the shared row does) and the next batch
    opens a connection, prepares the swap on it again and is back to one statement, the count exact."""
    ledger = SharedLedger(stores[0])
    gate = RateGate(ledger, slow_down_below=0.0)

    try:
        await _answered_permits(gate, 2)  # the locked read (the row is known), then a swap
        assert ledger.swaps == 1
        conn = ledger._conn
        assert conn is not None
        async with stores[1].engine.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": conn.info.backend_pid})
        await _answered_permits(gate, 1)  # its swap fails: paced from memory, the connection dropped
        assert ledger._conn is None
        await _answered_permits(gate, 1)  # a new connection: the row read under its lock again
        await _answered_permits(gate, 1)  # and the swap, prepared on that connection
        assert ledger.swaps == 2
    finally:
        await ledger.aclose()
    row = await _row(stores[1])
    assert row.in_flight == 0


async def test_a_row_another_replica_changed_makes_the_swap_miss_and_the_batch_apply_under_the_lock(
    stores: tuple[Store, Store],
) -> None:
    """The swap matches only the row as this replica last saw it: another replica's permit in between
    sends the batch down the locked path, so no permit is lost or counted twice."""
    first, second = SharedLedger(stores[0]), SharedLedger(stores[1])
    gates = RateGate(first, slow_down_below=0.0), RateGate(second, slow_down_below=0.0)
    try:
        assert (await gates[0].admit("sandbox")).permit is not None  # first: locked read, row known
        assert (await gates[1].admit("sandbox")).permit is not None  # second changes the row
        assert (await gates[0].admit("sandbox")).permit is not None  # first's swap misses
        assert (first.transactions, first.swaps) == (2, 0)
        async with stores[1].engine.connect() as conn:
            row = (
                await conn.execute(text("SELECT * FROM upstream_rate_windows WHERE budget = 'sandbox'"))
            ).one()
        assert row.in_flight == 3
        assert (await gates[0].admit("sandbox")).permit is not None  # seen again: one statement
        assert (first.transactions, first.swaps) == (3, 1)
    finally:
        await first.aclose()
        await second.aclose()


async def _answered_permits(gate: RateGate, count: int) -> None:
    """`count` permits asked for one after the other, each answered with 30 of 40 left."""
    for _ in range(count):
        admission = await gate.admit("sandbox")
        assert admission.permit is not None
        admission.permit.answered(RateLimitInfo(limit=40, remaining=30, reset=WINDOW_SECONDS))


async def _row(store: Store) -> Any:
    async with store.engine.connect() as conn:
        return (
            await conn.execute(text("SELECT * FROM upstream_rate_windows WHERE budget = 'sandbox'"))
        ).one()


async def test_a_replica_taking_permits_ahead_sends_several_requests_per_transaction(
    stores: tuple[Store, Store],
) -> None:
    """Issue 18: each request's permit was a round trip to PostgreSQL before the request could go; taken
    ahead while the window is far from its end, one transaction serves several requests."""
    upstream = CountingTransport(_sandbox(limit=40))
    ledger = _CountingLedger(SharedLedger(stores[0]))
    client = _client(ledger, upstream, take_ahead=4)
    async with client:
        replica = client.bind(rate_budget="sandbox")
        await replica.get("/accounts")  # Persona's first answer: the window's size is known
        await replica.get("/accounts")  # asks, and takes four ahead
        assert (await _row(stores[1])).in_flight >= 1 + 4, "other replicas see them spent"
        for _ in range(4):
            await replica.get("/accounts")
        assert ledger.awaited == 2, "six requests; the last five waited for one transaction"
    assert upstream.statuses.count(200) == 6
    row = await _row(stores[1])
    assert (row.remaining, row.in_flight) == (34, 0), "every permit settled or given back at close"


async def test_replicas_taking_permits_ahead_never_spend_more_than_the_window(
    stores: tuple[Store, Store],
) -> None:
    upstream = CountingTransport(_sandbox(limit=40))
    clients = [_client(SharedLedger(store), upstream, take_ahead=4) for store in stores]
    replicas = [client.bind(rate_budget="sandbox") for client in clients]
    await replicas[0].get("/accounts")
    refused = 0

    async def agent(replica: PersonaClient) -> None:
        nonlocal refused
        for _ in range(3):
            try:
                await replica.get("/accounts")
            except RateLimitedError as held:
                assert held.attempts == 0
                refused += 1

    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            for replica in replicas:
                for _ in range(16):
                    group.start_soon(agent, replica)
    for client in clients:
        await client.aclose()

    assert upstream.statuses.count(429) == 0, "Persona never refused: the window was never overspent"
    sent = upstream.statuses.count(200)
    assert 40 - 2 * 4 <= sent <= 40, "at most the permits taken ahead went unused when the rest waited"
    assert sent + refused == 1 + 2 * 16 * 3
    row = await _row(stores[1])
    assert row.in_flight == 0, "what was taken ahead and not used was given back"


async def test_a_server_on_postgresql_takes_permits_ahead(
    tmp_path: Path, postgres_schema_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ratelimit, "RESERVE_SECONDS", 30.0)  # still held when the row is read
    upstream = sandbox_app()
    settings = sandbox_settings(tmp_path, database_url=postgres_schema_url)
    async with open_server(
        settings, transport="memory", persona_transport=SandboxTransport(upstream), instance_id="ahead"
    ) as app:
        assert isinstance(app.caller_source, StaticTokenCallers)
        app.caller_source.token = await issue_grant(app, ["accounts:read"], principal="agent")
        async with Client(app.server) as client:
            for _ in range(2):
                result = await client.call_tool("list_accounts", {})
                assert not result.is_error, result.content
            assert (await _row(app.store)).in_flight >= TAKE_AHEAD, "permits taken ahead count as spent"
