"""The forwarder's durable position: the seq of the last record its sink accepted."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from persona_mcp.store import Store
from persona_mcp.store.schema.siem import siem_cursors


class CursorStore:
    """One named cursor. It never moves back: replicas forwarding under one name cannot undo each other."""

    def __init__(self, store: Store, name: str) -> None:
        self._store = store
        self.name = name

    async def load(self) -> int:
        async with self._store.engine.connect() as conn:
            found = await conn.scalar(select(siem_cursors.c.last_seq).where(siem_cursors.c.name == self.name))
        return int(found or 0)

    async def advance(self, seq: int) -> None:
        """Record that every record up to `seq` was delivered (committed before the next batch is read)."""
        now = datetime.now(UTC)
        async with self._store.engine.begin() as conn:
            moved = await conn.execute(
                update(siem_cursors)
                .where(siem_cursors.c.name == self.name, siem_cursors.c.last_seq < seq)
                .values(last_seq=seq, updated_at=now)
            )
            if moved.rowcount:
                return
            exists = await conn.scalar(
                select(siem_cursors.c.last_seq).where(siem_cursors.c.name == self.name)
            )
            if exists is not None:
                return  # already at or past `seq`
        try:
            async with self._store.engine.begin() as conn:
                await conn.execute(insert(siem_cursors).values(name=self.name, last_seq=seq, updated_at=now))
        except IntegrityError:  # another forwarder created it meanwhile: move it forward instead
            await self.advance(seq)
