import pytest

from persona_mcp.store import Store, upgrade
from persona_mcp.store.migrate import current_revision

pytestmark = pytest.mark.anyio


async def test_migrations_reach_head_and_applying_twice_changes_nothing(store: Store) -> None:
    head = await current_revision(store)
    assert head is not None
    await upgrade(store)
    assert await current_revision(store) == head
