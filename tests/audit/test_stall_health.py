"""`health` reports a commit that outruns every bound the database enforces (issue 11).

The server-side bounds (lock, statement, idle-in-transaction timeouts) cannot end a wait on a network that
has stopped delivering: the database never saw the statement. The log then says it is stalled while the
commit hangs, so `/healthz` turns 503 instead of staying green, and turns back once the commit completes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import anyio
import pytest
from anyio.abc import SocketStream

from persona_mcp.audit import AuditLog
from persona_mcp.config import StoreSettings
from persona_mcp.store import create_store, serving_bounds, upgrade

from ._support import call_event

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


class _Link:
    """A TCP relay to PostgreSQL whose traffic can be held (a network that stops delivering)."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self.flowing = anyio.Event()
        self.flowing.set()

    def hold(self) -> None:
        self.flowing = anyio.Event()

    def release(self) -> None:
        self.flowing.set()

    async def serve(self, client: SocketStream) -> None:
        async with client, await anyio.connect_tcp(*self._target) as server, anyio.create_task_group() as tg:
            tg.start_soon(self._pump, client, server, tg.cancel_scope)
            tg.start_soon(self._pump, server, client, tg.cancel_scope)

    async def _pump(self, source: SocketStream, sink: SocketStream, scope: anyio.CancelScope) -> None:
        try:
            async for chunk in source:
                await self.flowing.wait()
                await sink.send(chunk)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass
        scope.cancel()


@asynccontextmanager
async def _relayed(url: str) -> AsyncIterator[tuple[str, _Link]]:
    parts = urlsplit(url)
    link = _Link(parts.hostname or "127.0.0.1", parts.port or 5432)
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    netloc = f"{parts.username}@127.0.0.1:{port}" if parts.username else f"127.0.0.1:{port}"
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, link.serve)
        try:
            yield urlunsplit(parts._replace(netloc=netloc)), link
        finally:
            link.release()
            tg.cancel_scope.cancel()


async def test_a_commit_hung_on_the_network_past_the_bounds_turns_health_red_until_it_completes(
    postgres_schema_url: str, tmp_path: Path
) -> None:
    settings = StoreSettings(lock_timeout_seconds=0.5, statement_timeout_seconds=1.0)
    async with _relayed(postgres_schema_url) as (url, link):
        store = create_store(url, bounds=serving_bounds(settings, outbound_timeout_s=1))
        await upgrade(store)
        log = await AuditLog.open(store, data_dir=tmp_path, instance_id="relayed")
        try:
            await log.append(call_event(1))
            assert log.health.ok

            link.hold()
            async with anyio.create_task_group() as tg:
                tg.start_soon(log.append, call_event(2))
                with anyio.fail_after(log.stall_after_s + 10):
                    while log.health.ok:
                        await anyio.sleep(0.1)
                health = log.health
                assert not health.ok and health.reason is not None
                assert "stalled" in health.reason and "not answering" in health.reason

                link.release()
            assert log.health.ok, "the held commit completed once the network delivered again"
        finally:
            link.release()
            await log.aclose()
            await store.close()
