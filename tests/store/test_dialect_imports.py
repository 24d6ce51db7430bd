"""What a server imports from SQLAlchemy: never PostgreSQL's dialect on SQLite (25 ms of its start), and
never the ORM (70-100 ms), on either database (issue 18).

Each database's `INSERT ... ON CONFLICT` comes from `Store.insert`, which imports the store's own dialect
when first used (the call counters' and the webhook store's; their tests run on both databases); the
partial indexes' conditions are not dialect arguments of the metadata.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

_OPEN_AND_SERVE = """
import anyio, json, sys, uuid
from pathlib import Path
from persona_mcp.server.app import open_server
from persona_mcp.testing import sandbox_settings

async def main():
    settings = sandbox_settings(Path({data_dir!r}), database_url={database_url!r})
    async with open_server(settings, transport="http",
                           resource_url="http://127.0.0.1/mcp") as app:
        # The paths that insert with ON CONFLICT: a call window and a circuit breaker.
        from persona_mcp.auth.call_limits import CallCounters
        counters, grant_id = CallCounters(app.store), "grt_" + uuid.uuid4().hex[:16]
        assert (await counters.count(grant_id, "get_account", 60))[0] == 1
        assert await counters.count_high_risk(grant_id, threshold=0, window_seconds=60) is not None
anyio.run(main)
print(json.dumps(sorted(sys.modules)))
"""


def _open_and_serve(data_dir: Path, database_url: str | None = None) -> set[str]:
    """The modules a fresh interpreter holds after opening the server on `data_dir` and inserting."""
    script = _OPEN_AND_SERVE.format(data_dir=str(data_dir), database_url=database_url)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_server_on_sqlite_never_imports_postgresqls_dialect(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _open_and_serve(data_dir)  # the first start migrates the new database: Alembic loads every dialect

    loaded = _open_and_serve(data_dir)

    assert "alembic" not in loaded
    assert "sqlalchemy.dialects.sqlite" in loaded
    assert sorted(name for name in loaded if name.startswith("sqlalchemy.dialects.postgresql")) == []


def test_a_server_serves_without_importing_sqlalchemys_orm(tmp_path: Path, database_url: str) -> None:
    """The store uses SQLAlchemy Core alone; `sqlalchemy.ext.asyncio`'s package would import the ORM
    for its `AsyncSession` (see `persona_mcp/store/sqlalchemy_async.py`)."""
    data_dir = tmp_path / "data"
    _open_and_serve(data_dir, database_url)  # the first start migrates: Alembic may load what it likes

    loaded = _open_and_serve(data_dir, database_url)

    assert "sqlalchemy.ext.asyncio.engine" in loaded
    assert sorted(name for name in loaded if name.split(".")[:2] == ["sqlalchemy", "orm"]) == []


_THE_WHOLE_PACKAGE_AFTERWARDS = """
import sqlalchemy.ext.asyncio as package
from persona_mcp.store.sqlalchemy_async import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine as theirs
assert package.AsyncEngine is AsyncEngine and package.AsyncConnection is AsyncConnection
assert theirs is create_async_engine and AsyncSession.__module__ == "sqlalchemy.ext.asyncio.session"
assert callable(async_sessionmaker)
try:
    package.NoSuchName
except AttributeError as missing:
    assert "NoSuchName" in str(missing)
else:
    raise AssertionError("an unknown name was found")
"""


@pytest.mark.parametrize("first", ["persona_mcp", "sqlalchemy"])
def test_every_other_importer_still_gets_sqlalchemys_whole_asyncio_package(first: str) -> None:
    """Whichever of the store and the package is imported first, the package's own names (the ORM's
    `AsyncSession` among them) are all there when asked for, and the engine classes are the same."""
    prelude = "import persona_mcp.store\n" if first == "persona_mcp" else "import sqlalchemy.ext.asyncio\n"
    done = subprocess.run(
        [sys.executable, "-c", prelude + _THE_WHOLE_PACKAGE_AFTERWARDS],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
