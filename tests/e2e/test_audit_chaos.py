"""Chaos: concurrent reads and writes while the audit store fails and recovers (issue 10, acceptance).

The store fails in the ways operators meet: a full disk (a small tmpfs holding the SQLite file, or the
PostgreSQL tablespace of the audit tables), INSERT refused (on PostgreSQL a real `REVOKE` from the role
the server connects as; SQLite has no privileges, so a trigger raising the same refusal stands in), and
killed connections (PostgreSQL; an SQLite connection is a file handle). Afterwards:

- every request the sandbox received maps to exactly one outcome record;
- the chain verifies;
- no answer said "safe to repeat" for a write that had been applied.

Mounting a tmpfs needs root: elsewhere these tests skip with the reason, except under `CI=true`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from persona_mcp.audit import AuditUnavailableError
from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.audit.verify import verify_log
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.server.app import PersonaMcp, open_server
from persona_mcp.server.callers import StaticTokenCallers
from persona_mcp.testing import issue_grant, sandbox_app, sandbox_settings

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

WORKERS = 6
ROUNDS = 2


def _tmpfs_reason() -> str | None:
    if os.geteuid() != 0:
        return "mounting a tmpfs (the full-disk case) needs root"
    if shutil.which("mount") is None:
        return "no mount command"
    return None


def require_tmpfs() -> None:
    reason = _tmpfs_reason()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: the chaos test must run)")
        pytest.skip(reason)


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str, owner: str | None = None) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size},mode=0700"
    if owner is not None:
        user = pwd.getpwnam(owner)
        options += f",uid={user.pw_uid},gid={user.pw_gid}"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


class Failure(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class DiskFull:
    """Fills the filesystem holding the audit tables until writes get ENOSPC."""

    mount: Path
    name: str = "disk full"

    def start(self) -> None:
        chunk = b"\0" * (64 * 1024)
        # Unbuffered: a buffered file keeps what the full disk refused and writes it again on close,
        # raising ENOSPC outside the loop that expects it (it failed a CI run so).
        with open(self.mount / "filler", "ab", buffering=0) as filler:
            try:
                while True:
                    filler.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC

    def stop(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.mount / "filler").unlink()


@dataclass
class SqliteInsertRefused:
    database: Path
    name: str = "INSERT refused"

    def start(self) -> None:
        import sqlite3

        with sqlite3.connect(self.database, timeout=30) as conn:
            conn.execute(
                "CREATE TRIGGER IF NOT EXISTS chaos_refuse BEFORE INSERT ON audit_records "
                "BEGIN SELECT RAISE(ABORT, 'attempt to write a readonly database'); END"
            )

    def stop(self) -> None:
        import sqlite3

        with sqlite3.connect(self.database, timeout=30) as conn:
            conn.execute("DROP TRIGGER IF EXISTS chaos_refuse")


@dataclass
class PostgresInsertRevoked:
    admin: Engine
    role: str
    schema: str
    name: str = "INSERT revoked"

    def start(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'REVOKE INSERT ON "{self.schema}".audit_records FROM "{self.role}"'))

    def stop(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'GRANT INSERT ON "{self.schema}".audit_records TO "{self.role}"'))


@dataclass
class PostgresConnectionsKilled:
    admin: Engine
    role: str
    name: str = "connections killed"

    def start(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :role"),
                {"role": self.role},
            )

    def stop(self) -> None:
        return None


class _RecordingTransport(httpx2.AsyncBaseTransport):
    """The sandbox, and the request id of everything it answered."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self._inner = inner
        self.received: list[tuple[str, str, str | None]] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        self.received.append((request.method, request.url.path, response.headers.get("request-id")))
        return response


@dataclass
class _Answers:
    writes: dict[str, str] = field(default_factory=dict)  # reference id -> what the agent was told
    ok: int = 0
    refused: int = 0


async def _workload(app: PersonaMcp, worker: int, answers: _Answers, stop: anyio.Event) -> None:
    async with Client(app.server) as client:
        n = 0
        while not stop.is_set():
            n += 1
            is_write = n % 4 == 0
            reference = f"chaos-{worker}-{n}"
            name, arguments = (
                ("create_account", {"reference_id": reference}) if is_write else ("list_accounts", {})
            )
            try:
                result = await client.call_tool(name, arguments)
                told = " ".join(getattr(block, "text", "") for block in result.content)
                answers.ok += 0 if result.is_error else 1
            except MCPError as exc:
                told = exc.message
                answers.refused += 1
            if is_write:
                answers.writes[reference] = told
            await anyio.sleep(0.005)


async def _run_chaos(
    settings: Any, failures: list[Failure], *, store_healthy: Any = None
) -> tuple[_RecordingTransport, _Answers, Any]:
    sandbox = sandbox_app("demo")
    upstream = _RecordingTransport(SandboxTransport(sandbox))
    answers = _Answers()
    async with open_server(settings, transport="memory", persona_transport=upstream) as app:
        assert isinstance(app.caller_source, StaticTokenCallers)
        app.caller_source.token = await issue_grant(app, ["accounts:read", "accounts:write"])
        keys = [app.audit.public_key]
        stop = anyio.Event()
        async with anyio.create_task_group() as tasks:
            for worker in range(WORKERS):
                tasks.start_soon(_workload, app, worker, answers, stop)
            for _ in range(ROUNDS):
                for failure in failures:
                    await anyio.sleep(0.3)
                    await anyio.to_thread.run_sync(failure.start)
                    await anyio.sleep(0.5)
                    await anyio.to_thread.run_sync(failure.stop)
            await anyio.sleep(0.5)
            stop.set()
        with anyio.fail_after(60):
            while app.audit.spooled:
                try:
                    await app.audit.drain_spool()
                except AuditUnavailableError:
                    await anyio.sleep(0.5)  # the store is still coming back
    # Reopened as after a restart: the spool (if anything is left) drains before intents are resolved.
    async with open_server(settings, transport="memory", persona_transport=upstream) as reopened:
        records = [r async for r in iter_records(reopened.store, AuditFilter())]
        report = await verify_log(reopened.store, trusted_keys=[*keys, reopened.audit.public_key])
        accounts = {
            record.attributes.get("reference-id")
            for record in sandbox.state.sandbox.records.values()
            if record.type == "account"
        }
    assert report.ok, report
    outcomes = [r for r in records if r.kind == "call.outcome"]
    recorded_ids = [r.persona_request_id for r in outcomes if r.persona_request_id]
    for method, path, request_id in upstream.received:
        assert request_id is not None
        assert recorded_ids.count(request_id) == 1, f"{method} {path} {request_id} maps to one outcome"
    for reference, told in answers.writes.items():
        if reference in accounts:
            assert "is safe" not in told and "safe to repeat" not in told, (reference, told)
    assert answers.ok > 0 and answers.refused > 0, "the store failed and recovered while calls ran"
    return upstream, answers, records


async def test_chaos_on_sqlite_every_upstream_request_ends_in_one_outcome_record(tmp_path: Path) -> None:
    require_tmpfs()
    with small_tmpfs(tmp_path / "db", "64m") as mount:
        database = mount / "persona-mcp.sqlite3"
        settings = sandbox_settings(
            tmp_path / "data", database_url=f"sqlite+aiosqlite:///{database}", max_retries=0
        )
        failures: list[Failure] = [DiskFull(mount), SqliteInsertRefused(database)]
        await _run_chaos(settings, failures)


@pytest.mark.postgres
async def test_chaos_on_postgresql_every_upstream_request_ends_in_one_outcome_record(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    require_tmpfs()
    postgres_url = postgres_schema_url.split("?")[0]  # the server; the test makes its own role and schema
    suffix = uuid.uuid4().hex[:10]
    role, schema, tablespace = f"chaos_{suffix}", f"t_chaos_{suffix}", f"ts_chaos_{suffix}"
    sync_url = postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(sync_url, isolation_level="AUTOCOMMIT")
    # Outside pytest's 0700 temporary tree: the PostgreSQL server's own user must reach the tablespace.
    with small_tmpfs(Path(f"/tmp/persona-mcp-chaos-{suffix}"), "64m", owner="postgres") as mount:
        location = mount / "pg"
        location.mkdir()
        postgres = pwd.getpwnam("postgres")
        os.chown(location, postgres.pw_uid, postgres.pw_gid)
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
                conn.execute(text(f'CREATE TABLESPACE "{tablespace}" OWNER "{role}" LOCATION \'{location}\''))
                conn.execute(text(f'CREATE SCHEMA "{schema}" AUTHORIZATION "{role}"'))
                conn.execute(text(f'ALTER ROLE "{role}" SET default_tablespace = "{tablespace}"'))
            user_url = postgres_url.replace("postgres@", f"{role}@", 1)
            sep = "&" if "?" in user_url else "?"
            settings = sandbox_settings(
                tmp_path / "data",
                database_url=f"{user_url}{sep}options=-csearch_path%3D{schema}",
                max_retries=0,
            )
            failures: list[Failure] = [
                DiskFull(mount),
                PostgresInsertRevoked(admin, role, schema),
                PostgresConnectionsKilled(admin, role),
            ]
            await _run_chaos(settings, failures)
        finally:
            with admin.connect() as conn:
                conn.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r"),
                    {"r": role},
                )
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                conn.execute(text(f'DROP TABLESPACE IF EXISTS "{tablespace}"'))
                conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
            admin.dispose()
