"""Shared fixtures: a real SQLite file and the real PostgreSQL, each freshly migrated per test.

PostgreSQL tests use `PERSONA_MCP_TEST_POSTGRES_URL` (default the local server's `test` database); each
test gets its own schema, dropped afterwards. Without a reachable server they skip with the reason, except
under CI (`CI=true`), where they fail instead: CI must never silently skip the PostgreSQL store.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from persona_mcp.store import Store, create_store, upgrade

POSTGRES_URL = os.environ.get("PERSONA_MCP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _postgres_reason() -> str | None:
    try:
        engine = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {type(exc).__name__}"
    return None


_PG_REASON: str | None = None
_PG_CHECKED = False


def require_postgres() -> None:
    """Skip (or, under CI, fail) when PostgreSQL is not reachable."""
    global _PG_REASON, _PG_CHECKED
    if not _PG_CHECKED:
        _PG_REASON = _postgres_reason()
        _PG_CHECKED = True
    if _PG_REASON is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{_PG_REASON} (CI=true: PostgreSQL tests must run)")
        pytest.skip(_PG_REASON)


@pytest.fixture
def postgres_url() -> str:
    """The server's URL as configured (a superuser), for tests that create their own roles and schemas."""
    require_postgres()
    return POSTGRES_URL


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A URL whose connections use a fresh, empty schema; dropped after the test."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    sync_url = POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(sync_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'persona-mcp.sqlite3'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every store test runs on both databases."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'persona-mcp.sqlite3'}"
    url: str = request.getfixturevalue("postgres_schema_url")
    return url


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """A migrated store on SQLite and on PostgreSQL."""
    s = create_store(database_url)
    await upgrade(s)
    try:
        yield s
    finally:
        await s.close()
