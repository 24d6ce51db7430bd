"""The forwarding loop: read after the cursor, deliver, advance; back off while the sink fails."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import anyio
import structlog
from sqlalchemy import func, select

from persona_mcp.audit.export import to_ocsf
from persona_mcp.audit.forwarding.cursor import CursorStore
from persona_mcp.audit.forwarding.sinks import Item, Sink, SinkError
from persona_mcp.audit.record import AuditRecord
from persona_mcp.store import Store
from persona_mcp.store.schema.audit import audit_records

log = structlog.get_logger("persona_mcp.audit.forwarding")


@dataclass(slots=True)
class ForwarderState:
    """What the metrics and /healthz show about forwarding."""

    sink: str
    cursor: int = 0
    head: int = 0
    delivered: int = 0
    failures: int = 0
    sink_up: bool = True
    last_error: str | None = None

    @property
    def lag(self) -> int:
        """Records in the log not yet accepted by the sink."""
        return max(self.head - self.cursor, 0)


class Forwarder:
    """Delivers every audit record to one sink, in seq order, at least once."""

    def __init__(
        self,
        store: Store,
        sink: Sink,
        *,
        name: str = "default",
        batch_size: int = 200,
        poll_seconds: float = 1.0,
        retry_max_seconds: float = 30.0,
        activities: Mapping[str, str] | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self._store = store
        self._sink = sink
        self._cursor = CursorStore(store, name)
        self._batch = batch_size
        self._poll = poll_seconds
        self._retry_max = retry_max_seconds
        self._activities = dict(activities or {})
        self._sleep = sleep
        self.state = ForwarderState(sink=sink.name)

    async def _head(self) -> int:
        async with self._store.engine.connect() as conn:
            return int(await conn.scalar(select(func.max(audit_records.c.seq))) or 0)

    async def _after(self, seq: int) -> list[AuditRecord]:
        query = (
            select(audit_records.c.body, audit_records.c.hash)
            .where(audit_records.c.seq > seq)
            .order_by(audit_records.c.seq)
            .limit(self._batch)
        )
        async with self._store.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [AuditRecord.from_stored(row.body, row.hash) for row in rows]

    async def step(self) -> int:
        """Deliver the next batch after the cursor; the number of records delivered (0: caught up).

        Raises `SinkError` when the sink did not accept it; the cursor then stays where it was."""
        self.state.cursor = await self._cursor.load()
        self.state.head = await self._head()
        records = await self._after(self.state.cursor)
        if not records:
            return 0
        items: list[Item] = [(record, to_ocsf(record, self._activities)) for record in records]
        await self._sink.send(items)
        await self._cursor.advance(records[-1].seq)
        self.state.cursor = records[-1].seq
        self.state.delivered += len(records)
        return len(records)

    async def drain(self) -> int:
        """Deliver everything recorded so far, then return the count (`audit forward --once`)."""
        total = 0
        while (delivered := await self.step()) > 0:
            total += delivered
        return total

    async def run(self) -> None:
        """Forward until cancelled. A failing sink (or store) is retried with exponential backoff, up to
        `retry_max_seconds` between attempts; the cursor keeps what was delivered."""
        backoff = self._poll
        try:
            while True:
                try:
                    delivered = await self.step()
                except (SinkError, OSError) as exc:
                    self._failed(str(exc) if isinstance(exc, SinkError) else type(exc).__name__)
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, self._retry_max)
                    continue
                except Exception as exc:  # the store: try again later, never stop forwarding for good
                    self._failed(f"reading the audit log failed ({type(exc).__name__})")
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, self._retry_max)
                    continue
                if not self.state.sink_up:
                    log.warning("siem sink back", sink=self._sink.name, lag=self.state.lag)
                self.state.sink_up, self.state.last_error, backoff = True, None, self._poll
                if delivered < self._batch:
                    await self._sleep(self._poll)
        finally:
            with anyio.CancelScope(shield=True):
                await self._sink.aclose()

    def _failed(self, reason: str) -> None:
        self.state.failures += 1
        if self.state.sink_up or reason != self.state.last_error:
            log.warning("siem forwarding failed", sink=self._sink.name, reason=reason, lag=self.state.lag)
        self.state.sink_up, self.state.last_error = False, reason
