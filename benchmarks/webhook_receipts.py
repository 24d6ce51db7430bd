"""Verified webhook deliveries per second, and delivery-to-notification latency, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/webhook_receipts.py [--deliveries 2000] [--senders 16] [--latency 50]
        [--postgres URL] [--no-postgres]

One persona-mcp server (the shipped receiver: signature check, size cap, insert-once, audit record before
the answer) on a loopback port (uvicorn); `--senders` concurrent HTTP clients POST `--deliveries` distinct
signed events (bodies and signatures made before the clock starts). Then `--latency` events one at a time:
the time from just before the POST to the `notifications/resources/updated` a client listening on that
object's events resource gets, on the replica that received it, and (PostgreSQL) on a second replica
sharing the database, which hears of it by polling the store (`[events] notify_poll_seconds`, 0.5 s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import anyio
import httpx2
from mcp import Client
from sqlalchemy import create_engine, text

from persona_mcp.config import Environment
from persona_mcp.events.endpoints import EndpointSecret
from persona_mcp.events.signature import signature_header
from persona_mcp.logs import configure_logging
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.server.app import PersonaMcp, open_server
from persona_mcp.server.callers import StaticTokenCallers
from persona_mcp.server.run import http_app_for
from persona_mcp.server.serving import free_port, serving
from persona_mcp.testing import issue_grant, sandbox_app, sandbox_settings

SECRET = "wbhsec_benchmark"


def _body(event_id: str, object_id: str) -> bytes:
    return json.dumps(
        {
            "data": {
                "type": "event",
                "id": event_id,
                "attributes": {
                    "name": "inquiry.completed",
                    "created-at": "2026-01-01T00:00:00.000Z",
                    "payload": {
                        "data": {"type": "inquiry", "id": object_id, "attributes": {"status": "completed"}}
                    },
                },
            }
        }
    ).encode()


def _signed(event_id: str, object_id: str) -> tuple[bytes, dict[str, str]]:
    body = _body(event_id, object_id)
    return body, {
        "content-type": "application/json",
        "persona-signature": signature_header([SECRET], int(time.time()), body),
    }


async def _watcher(app: PersonaMcp) -> None:
    assert isinstance(app.caller_source, StaticTokenCallers)
    app.caller_source.token = await issue_grant(
        app, ["events:read"], principal=f"bench-{uuid.uuid4().hex[:6]}"
    )


async def _run(url: str | None, data_dir: Path, deliveries: int, senders: int, latency_samples: int) -> None:
    upstream = sandbox_app(None)
    settings = sandbox_settings(data_dir, database_url=url)
    port = free_port()
    async with open_server(
        settings, transport="memory", persona_transport=SandboxTransport(upstream), instance_id="bench-a"
    ) as app:
        await _watcher(app)
        endpoint = await app.events.endpoints.save(
            environment=Environment.SANDBOX, secrets=[EndpointSecret(SECRET)], actor="bench"
        )
        path = f"/webhooks/persona/{endpoint}"
        async with serving(http_app_for(app, settings, f"http://127.0.0.1:{port}/mcp"), port) as base:
            prepared = [
                _signed(f"evt_Bench{uuid.uuid4().hex}", f"inq_Bench{i:08d}") for i in range(deliveries)
            ]
            limits = httpx2.Limits(max_connections=senders)
            async with httpx2.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
                failures = 0
                queue = iter(prepared)

                async def sender() -> None:
                    nonlocal failures
                    for body, headers in queue:
                        response = await http.post(path, content=body, headers=headers)
                        failures += response.status_code != 200

                started = time.perf_counter()
                async with anyio.create_task_group() as tg:
                    for _ in range(senders):
                        tg.start_soon(sender)
                elapsed = time.perf_counter() - started
                store = "postgresql" if url else "sqlite"
                print(
                    f"{store:<10} deliveries={deliveries} senders={senders}  {deliveries / elapsed:8,.0f} "
                    f"verified deliveries/s  (failures {failures}, stored {await app.events.store.count()})"
                )
                await _latency(app, http, path, latency_samples, url, data_dir, upstream, store)


async def _latency(
    app: PersonaMcp,
    http: httpx2.AsyncClient,
    path: str,
    samples: int,
    url: str | None,
    data_dir: Path,
    upstream: object,
    store: str,
) -> None:
    objects = [f"inq_Latency{i:08d}" for i in range(samples)]
    uris = [f"persona://inquiries/{o}/events" for o in objects]
    replicas = [app]
    other_stack = None
    if url is not None:
        settings = sandbox_settings(data_dir, database_url=url)
        other_stack = open_server(
            settings, transport="memory", persona_transport=SandboxTransport(upstream), instance_id="bench-b"
        )
        other = await other_stack.__aenter__()
        await _watcher(other)
        replicas.append(other)
    try:
        heard: list[dict[str, float]] = [{} for _ in replicas]
        sent: dict[str, float] = {}

        async def listen(index: int, replica: PersonaMcp, ready: anyio.Event) -> None:
            async with Client(replica.server) as client, client.listen(resource_subscriptions=uris) as sub:
                ready.set()
                async for event in sub:
                    heard[index].setdefault(getattr(event, "uri", ""), time.perf_counter())
                    if len(heard[index]) == samples:
                        return

        async with anyio.create_task_group() as tg:
            for index, replica in enumerate(replicas):
                ready = anyio.Event()
                tg.start_soon(listen, index, replica, ready)
                await ready.wait()
            for object_id, uri in zip(objects, uris, strict=True):
                body, headers = _signed(f"evt_Lat{uuid.uuid4().hex}", object_id)
                sent[uri] = time.perf_counter()
                await http.post(path, content=body, headers=headers)
                with anyio.fail_after(10):
                    while uri not in heard[0]:
                        await anyio.sleep(0.001)
            with anyio.fail_after(30):
                while any(len(h) < samples for h in heard):
                    await anyio.sleep(0.01)
        for index, name in enumerate(("receiving replica", "other replica")[: len(replicas)]):
            waits = sorted((heard[index][uri] - sent[uri]) * 1000 for uri in uris)
            median, p95 = statistics.median(waits), waits[int(0.95 * (len(waits) - 1))]
            print(
                f"{store:<10} delivery -> notification, {name:<17} median {median:7.1f} ms  "
                f"p95 {p95:7.1f} ms  max {waits[-1]:7.1f} ms  (n={samples})"
            )
    finally:
        if other_stack is not None:
            await other_stack.__aexit__(None, None, None)


def _pg_schema(base: str) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(
        base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return f"{base}?options=-csearch_path%3D{schema}", schema


def _drop_pg_schema(base: str, schema: str) -> None:
    engine = create_engine(
        base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--latency", type=int, default=50, help="delivery-to-notification samples")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    configure_logging("ERROR")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}  cpus: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        anyio.run(_run, None, Path(tmp) / "sqlite", args.deliveries, args.senders, args.latency)
        if not args.no_postgres:
            url, schema = _pg_schema(args.postgres)
            try:
                anyio.run(_run, url, Path(tmp) / "pg", args.deliveries, args.senders, args.latency)
            finally:
                _drop_pg_schema(args.postgres, schema)
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
