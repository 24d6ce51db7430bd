"""The data directory and the SQLite files (grants, audit log) are readable by the server's user only.

The runner's umask is set to the usual 022 here, so a file created with default permissions would show
up as 0644 and a directory as 0755.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from persona_mcp.store import create_store, upgrade
from persona_mcp.testing import connected

pytestmark = pytest.mark.anyio

DB = "persona-mcp.sqlite3"


@pytest.fixture(autouse=True)
def _usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _sqlite_files(directory: Path) -> dict[str, int]:
    return {path.name: _mode(path) for path in directory.iterdir() if path.name.startswith(DB)}


async def test_a_new_data_dir_is_0700_and_the_database_and_its_wal_and_shm_files_are_0600(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    async with connected(data_dir, ["accounts:read"]) as h:
        result = await h.client.call_tool("list_accounts", {"reference_id": "usr-1001"})
        assert not result.is_error
        files = _sqlite_files(data_dir)  # while the server runs: WAL mode keeps -wal and -shm open
        dir_mode = _mode(data_dir)
    assert dir_mode == 0o700
    assert files == {DB: 0o600, f"{DB}-wal": 0o600, f"{DB}-shm": 0o600}


async def test_an_existing_world_readable_database_and_its_wal_files_are_made_0600_on_open(
    tmp_path: Path,
) -> None:
    db = tmp_path / DB
    with closing(sqlite3.connect(db)) as conn:  # what an older version left behind: 0644 files
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE leftover (x)")
        conn.commit()
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            assert _mode(path) == 0o644
        # Checked while the old connection still holds -wal and -shm open.
        store = create_store(f"sqlite:///{db}")
        try:
            await upgrade(store)
            assert _sqlite_files(tmp_path) == {DB: 0o600, f"{DB}-wal": 0o600, f"{DB}-shm": 0o600}
        finally:
            await store.close()


async def test_a_database_in_a_missing_directory_gets_a_0700_directory(tmp_path: Path) -> None:
    store = create_store(f"sqlite:///{tmp_path / 'nested' / 'deeper' / DB}")
    try:
        await upgrade(store)
    finally:
        await store.close()
    assert _mode(tmp_path / "nested" / "deeper") == 0o700
    assert _mode(tmp_path / "nested" / "deeper" / DB) == 0o600
