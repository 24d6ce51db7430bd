"""Audit records reach the SIEM as OCSF JSON, at least once, in order, from a durable cursor.

The forwarder is killed mid-stream and restarted: every record arrives, none missing. With the sink down,
tool calls go on and the lag grows; when it is back, the lag drains to zero.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from tests.audit._support import fill
from tests.operations._cli import clean_env, run_cli
from tests.operations._sinks import (
    assert_at_least_once_in_order,
    http_collector,
    self_signed_tls,
    syslog_listener,
)

from persona_mcp.audit import AuditLog
from persona_mcp.audit.forwarding import CursorStore, Forwarder
from persona_mcp.audit.forwarding.sinks import FileSink, SinkError, SyslogSink
from persona_mcp.config import SiemSettings
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.server.app import PersonaMcp, open_server
from persona_mcp.server.callers import StaticTokenCallers
from persona_mcp.server.serving import free_port
from persona_mcp.store import Store, create_store, upgrade
from persona_mcp.testing import issue_grant, sandbox_app, sandbox_settings

RECORDS = 120


async def _fill_log(data_dir: Path, count: int) -> None:
    store = create_store(f"sqlite+aiosqlite:///{data_dir / 'persona-mcp.sqlite3'}")
    try:
        await upgrade(store)
        log = await AuditLog.open(store, data_dir=data_dir, instance_id="siem-test")
        try:
            await fill(log, count)
        finally:
            await log.aclose()
    finally:
        await store.close()


def _forwarder(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "persona_mcp.cli", "audit", "forward"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_mid_stream_then_resume(env: dict[str, str], received: object, records: int) -> None:
    process = _forwarder(env)
    try:
        received.wait_for(lambda r: len(r.seqs) >= 20)  # type: ignore[attr-defined]
        assert len(set(received.seqs)) < records, "killed mid-stream, not after the end"  # type: ignore[attr-defined]
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    ran = run_cli("audit", "forward", "--once", "--json", env=env)
    assert ran.status == 0, ran.stderr
    assert json.loads(ran.stdout)["cursor"] == records


@pytest.mark.parametrize("hec", [True, False], ids=["splunk-hec", "webhook"])
def test_http_forwarding_killed_mid_stream_resumes_and_loses_nothing(tmp_path: Path, hec: bool) -> None:
    anyio.run(_fill_log, tmp_path, RECORDS)
    with http_collector(hec=hec, delay_s=0.05) as (url, received):
        env = clean_env(
            tmp_path,
            PERSONA_MCP_SIEM_SINK="hec" if hec else "webhook",
            PERSONA_MCP_SIEM_URL=url,
            PERSONA_MCP_SIEM_TOKEN="hec-token-123",
            PERSONA_MCP_SIEM_BATCH_SIZE="5",
            PERSONA_MCP_SIEM_POLL_SECONDS="0.05",
        )
        _kill_mid_stream_then_resume(env, received, RECORDS)
    assert_at_least_once_in_order(received, range(1, RECORDS + 1))
    event = received.batches[0][0][1]
    assert event["class_uid"] == 6003 and event["metadata"]["product"]["name"] == "persona-mcp"
    assert received.headers[0]["Authorization"] == ("Splunk hec-token-123" if hec else "Bearer hec-token-123")


def test_syslog_forwarding_killed_mid_stream_resumes_and_loses_nothing(tmp_path: Path) -> None:
    anyio.run(_fill_log, tmp_path, RECORDS)
    with syslog_listener() as (port, received, malformed):
        env = clean_env(
            tmp_path,
            PERSONA_MCP_SIEM_SINK="syslog",
            PERSONA_MCP_SIEM_URL=f"tcp://127.0.0.1:{port}",
            PERSONA_MCP_SIEM_BATCH_SIZE="2",
            PERSONA_MCP_SIEM_POLL_SECONDS="0.05",
        )
        _kill_mid_stream_then_resume(env, received, RECORDS)
        received.wait_for(lambda r: set(r.seqs) >= set(range(1, RECORDS + 1)))
    assert malformed == []
    assert_at_least_once_in_order(received, range(1, RECORDS + 1))


@pytest.mark.anyio
async def test_the_file_sink_rotates_by_size_and_keeps_every_record(tmp_path: Path) -> None:
    await _fill_log(tmp_path, 60)
    store = create_store(f"sqlite+aiosqlite:///{tmp_path / 'persona-mcp.sqlite3'}")
    try:
        sink = FileSink(tmp_path / "siem" / "audit.ocsf.jsonl", max_bytes=8 * 1024, backups=50)
        forwarder = Forwarder(store, sink, batch_size=7)
        assert await forwarder.drain() == 60
        assert await forwarder.drain() == 0  # the cursor is durable: nothing twice
    finally:
        await store.close()
    files = sorted(
        (tmp_path / "siem").iterdir(), key=lambda p: -int(p.suffix[1:]) if p.suffix[1:].isdigit() else 0
    )
    assert len(files) > 2, "rotated"
    for path in files:
        assert path.stat().st_size <= 8 * 1024
        assert path.stat().st_mode & 0o077 == 0
    seqs = [
        json.loads(line)["metadata"]["sequence"] for path in files for line in path.read_text().splitlines()
    ]
    assert seqs == list(range(1, 61))


def _lag_metric(app: PersonaMcp) -> int:
    """The lag as Prometheus scrapes it (the server's own registry, parsed by prometheus_client)."""
    assert app.observer is not None
    text = generate_latest(app.observer.registry).decode()
    values = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "persona_mcp_siem_lag_records" and sample.labels == {"sink": "webhook"}
    ]
    assert len(values) == 1
    return int(values[0])


@pytest.mark.anyio
async def test_with_the_sink_down_calls_go_on_and_the_lag_grows_then_drains(tmp_path: Path) -> None:
    port = free_port()  # nothing listens here yet
    settings = sandbox_settings(tmp_path)
    settings.siem = SiemSettings(
        sink="webhook", url=f"http://127.0.0.1:{port}/ingest", poll_seconds=0.05, retry_max_seconds=0.2
    )
    async with open_server(
        settings, transport="memory", persona_transport=SandboxTransport(sandbox_app())
    ) as app:
        assert app.forwarder is not None
        token = await issue_grant(app, ["accounts:read"])
        assert isinstance(app.caller_source, StaticTokenCallers)
        app.caller_source.token = token
        lags: list[int] = []
        state = app.forwarder.state
        async with Client(app.server) as client:
            for _ in range(3):
                seen = state.head
                result = await client.call_tool("list_accounts", {})  # answered while the sink is down
                assert not result.is_error
                with anyio.fail_after(30):  # the forwarder has seen the new record and failed to send it
                    while state.head <= seen or state.failures == 0:
                        await anyio.sleep(0.02)
                lags.append(_lag_metric(app))
        assert app.forwarder.state.sink_up is False
        assert app.health()["status"] == "degraded" and app.health()["siem"]["up"] is False
        assert lags == sorted(lags) and lags[-1] > lags[0] > 0
        with http_collector(hec=False, port=port) as (_url, received):
            with anyio.fail_after(60):
                while app.forwarder.state.lag > 0 or not app.forwarder.state.sink_up:
                    await anyio.sleep(0.02)
            head = app.forwarder.state.head
            assert _lag_metric(app) == 0
        assert_at_least_once_in_order(received, range(1, head + 1))


@pytest.mark.anyio
async def test_the_cursor_only_moves_forward_and_a_new_forwarder_resumes_after_it(
    store: Store, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    log = await AuditLog.open(store, data_dir=data_dir, instance_id="cursor-test")
    try:
        await fill(log, 10)
    finally:
        await log.aclose()
    sink = FileSink(tmp_path / "out.jsonl", max_bytes=10_000_000, backups=2)
    first = Forwarder(store, sink, name="siem-a", batch_size=4)
    assert await first.step() == 4
    cursor = CursorStore(store, "siem-a")
    assert await cursor.load() == 4
    await cursor.advance(2)  # a replica's late, older write never moves it back
    assert await cursor.load() == 4
    resumed = Forwarder(store, sink, name="siem-a", batch_size=100)
    assert await resumed.drain() == 6 and await cursor.load() == 10
    assert await Forwarder(store, sink, name="siem-b").drain() == 10, "each name has its own cursor"
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert [json.loads(line)["metadata"]["sequence"] for line in lines] == [*range(1, 11), *range(1, 11)]


@pytest.mark.anyio
async def test_syslog_over_tls_delivers_every_record_and_refuses_an_untrusted_certificate(
    tmp_path: Path,
) -> None:
    await _fill_log(tmp_path, 25)
    context, ca_file = self_signed_tls(tmp_path)
    store = create_store(f"sqlite+aiosqlite:///{tmp_path / 'persona-mcp.sqlite3'}")
    try:
        with syslog_listener(tls=context) as (port, received, malformed):
            untrusted = Forwarder(store, SyslogSink(f"tls://127.0.0.1:{port}"), name="untrusted")
            with pytest.raises(SinkError, match="SSL"):
                await untrusted.step()
            assert await CursorStore(store, "untrusted").load() == 0, "nothing counted as delivered"
            sink = SyslogSink(f"tls://127.0.0.1:{port}", ca_file=ca_file)
            try:
                assert await Forwarder(store, sink, batch_size=4).drain() == 25
            finally:
                await sink.aclose()
            received.wait_for(lambda r: len(r.seqs) >= 25)
    finally:
        await store.close()
    assert malformed == []
    assert_at_least_once_in_order(received, range(1, 26))
