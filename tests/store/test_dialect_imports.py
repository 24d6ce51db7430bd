"""A server on SQLite never imports PostgreSQL's SQLAlchemy dialect: 25 ms of its start (issue 18).

Each database's `INSERT ... ON CONFLICT` comes from `Store.insert`, which imports the store's own dialect
when first used (the call counters' and the webhook store's; their tests run on both databases); the
partial indexes' conditions are not dialect arguments of the metadata.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_OPEN_AND_SERVE = """
import anyio, json, sys, uuid
from pathlib import Path
from persona_mcp.server.app import open_server
from persona_mcp.testing import sandbox_settings

async def main():
    async with open_server(sandbox_settings(Path({data_dir!r})), transport="http",
                           resource_url="http://127.0.0.1/mcp") as app:
        # The paths that insert with ON CONFLICT: a call window and a circuit breaker.
        from persona_mcp.auth.call_limits import CallCounters
        counters, grant_id = CallCounters(app.store), "grt_" + uuid.uuid4().hex[:16]
        assert (await counters.count(grant_id, "get_account", 60))[0] == 1
        assert await counters.count_high_risk(grant_id, threshold=0, window_seconds=60) is not None
anyio.run(main)
print(json.dumps(sorted(sys.modules)))
"""


def _open_and_serve(data_dir: Path) -> set[str]:
    """The modules a fresh interpreter holds after opening the server on `data_dir` and inserting."""
    done = subprocess.run(
        [sys.executable, "-c", _OPEN_AND_SERVE.format(data_dir=str(data_dir))],
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
