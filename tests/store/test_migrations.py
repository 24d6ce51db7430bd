import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from persona_mcp.store import Store, create_store, upgrade
from persona_mcp.store.migrate import current_revision, head_revision

pytestmark = pytest.mark.anyio

VERSIONS = Path(__file__).parents[2] / "src" / "persona_mcp" / "store" / "migrations" / "versions"


async def test_migrations_reach_head_and_applying_twice_changes_nothing(store: Store) -> None:
    head = await current_revision(store)
    assert head is not None
    await upgrade(store)
    assert await current_revision(store) == head


def _assigned(path: Path, name: str) -> object:
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets if isinstance(t, ast.Name)] == [name]:
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path.name} assigns no {name}")


def test_each_migration_is_named_by_its_revision_and_the_newest_file_is_alembics_head() -> None:
    """The convention the start-up check relies on to know the head without loading Alembic."""
    from alembic.script import ScriptDirectory

    from persona_mcp.store.migrate import alembic_config

    files = sorted(VERSIONS.glob("[0-9]*.py"))
    assert files
    assert [_assigned(path, "revision") for path in files] == [path.stem for path in files]
    assert ScriptDirectory.from_config(alembic_config()).get_heads() == [head_revision()]


async def test_a_database_one_migration_behind_is_brought_to_head(database_url: str) -> None:
    store = create_store(database_url)
    try:
        files = sorted(path.stem for path in VERSIONS.glob("[0-9]*.py"))
        await upgrade(store, files[-2])
        assert await current_revision(store) == files[-2]
        await upgrade(store)
        assert await current_revision(store) == head_revision()
    finally:
        await store.close()


async def test_starting_on_a_database_at_head_does_not_load_alembic(store: Store) -> None:
    """A fresh interpreter opens the migrated store and upgrades it, as `serve` does on every start."""
    probe = (
        "import anyio, json, sys\n"
        "from persona_mcp.store import create_store, upgrade\n"
        "async def main():\n"
        f"    store = create_store({str(store.engine.url.render_as_string(hide_password=False))!r})\n"
        "    await upgrade(store)\n"
        "    await store.close()\n"
        "anyio.run(main)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "sqlalchemy" in loaded
    assert sorted(name for name in loaded if name.split(".")[0] in ("alembic", "mako")) == []
