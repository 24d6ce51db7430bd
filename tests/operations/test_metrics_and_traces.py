"""Prometheus `/metrics` (off by default, behind its own token or address), OpenTelemetry spans per tool
call and per upstream request, and one structured log event per call, none of them carrying PII."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from structlog.testing import capture_logs
from tests.operations._cli import clean_env

from persona_mcp.config import MetricsSettings, Settings
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.server.app import PersonaMcp, open_server
from persona_mcp.server.callers import StaticTokenCallers
from persona_mcp.server.observe import Observer
from persona_mcp.server.run import http_app_for
from persona_mcp.server.serving import free_port
from persona_mcp.testing import issue_grant, sandbox_app, sandbox_settings
from persona_mcp.tools import CATALOGUE

pytestmark = pytest.mark.anyio

SCRAPE_TOKEN = "scrape-secret-0123456789"
CANARY = "zqcanary-jane-doe"


@asynccontextmanager
async def _server(
    settings: Settings, observer: Observer | None = None
) -> AsyncIterator[tuple[PersonaMcp, httpx2.AsyncClient]]:
    async with open_server(
        settings,
        transport="memory",
        persona_transport=SandboxTransport(sandbox_app()),
        observer=observer,
    ) as app:
        asgi = http_app_for(app, settings, "http://127.0.0.1:8000/mcp")
        transport = httpx2.ASGITransport(app=asgi, client=("127.0.0.1", 5000))
        async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
            yield app, http


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_are_off_by_default(tmp_path: Path) -> None:
    async with _server(sandbox_settings(tmp_path)) as (_app, http):
        assert (await http.get("/metrics")).status_code == 404


async def test_metrics_need_their_token_and_report_calls_upstream_audit_rate_limits_and_sessions(
    tmp_path: Path,
) -> None:
    settings = sandbox_settings(tmp_path)
    settings.metrics = MetricsSettings(token=SecretStr(SCRAPE_TOKEN))
    async with _server(settings) as (app, http):
        # No tracer provider is configured here: every figure below comes from the path without spans.
        assert app.observer is not None and not app.observer.tracing
        token = await issue_grant(app, ["accounts:read"], rate_per_minute=2)
        assert isinstance(app.caller_source, StaticTokenCallers)
        app.caller_source.token = token
        async with Client(app.server) as client:
            assert not (await client.call_tool("list_accounts", {"reference_id": CANARY})).is_error
            assert not (await client.call_tool("list_accounts", {})).is_error
            with pytest.raises(Exception, match=r"(?i)rate"):
                await client.call_tool("list_accounts", {})  # the third in a minute: refused
            with pytest.raises(Exception, match="Unknown tool"):
                await client.call_tool("drop_all_tables", {})

        assert (await http.get("/metrics")).status_code == 401
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        # A grant token is not a metrics token.
        assert (await http.get("/metrics", headers={"Authorization": f"Bearer {token}"})).status_code == 401
        scraped = await http.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"})
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    samples = _samples(scraped.text)

    def value(name: str, **labels: str) -> float:
        return samples[(name, frozenset(labels.items()))]

    ok = {"tool": "list_accounts", "decision": "allowed", "outcome": "ok"}
    assert value("persona_mcp_tool_calls_total", **ok) == 2
    limited = {"tool": "list_accounts", "decision": "denied", "outcome": "none"}
    assert value("persona_mcp_tool_calls_total", **limited) == 1
    assert value("persona_mcp_tool_calls_total", tool="unknown", decision="denied", outcome="none") == 1
    assert value("persona_mcp_rate_limited_calls_total", tool="list_accounts") == 1
    # Every call is timed, a denied one too (its record has no latency: the span's start gives it).
    assert value("persona_mcp_tool_call_duration_seconds_count", tool="list_accounts") == 3
    assert value("persona_mcp_tool_call_duration_seconds_count", tool="unknown") == 1
    assert value("persona_mcp_upstream_requests_total", method="GET", status="200") >= 2
    assert value("persona_mcp_upstream_request_duration_seconds_count", method="GET") >= 2
    assert value("persona_mcp_audit_append_duration_seconds_count") >= 4
    assert value("persona_mcp_audit_append_failures_total") == 0
    assert value("persona_mcp_audit_ok") == 1
    assert ("persona_mcp_audit_queue_depth", frozenset()) in samples
    assert value("persona_mcp_sessions_open") == 0
    assert value("persona_mcp_sessions_limit") == settings.http.max_sessions
    assert CANARY not in scraped.text and "drop_all_tables" not in scraped.text


async def test_spans_per_tool_call_and_upstream_request_carry_no_pii(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    observer = Observer(known_tools=[spec.name for spec in CATALOGUE], tracer_provider=provider)
    assert observer.tracing
    async with _server(sandbox_settings(tmp_path), observer) as (app, _http):
        token = await issue_grant(app, ["accounts:read"])
        assert isinstance(app.caller_source, StaticTokenCallers)
        app.caller_source.token = token
        with capture_logs() as logs:
            async with Client(app.server) as client:
                assert not (await client.call_tool("list_accounts", {"reference_id": CANARY})).is_error
    spans = exporter.get_finished_spans()
    calls = [span for span in spans if span.name == "tools/call list_accounts"]
    assert len(calls) == 1
    call = calls[0]
    assert call.kind is SpanKind.SERVER
    assert call.attributes is not None
    assert call.attributes["gen_ai.tool.name"] == "list_accounts"
    assert call.attributes["persona_mcp.decision"] == "allowed"
    assert call.attributes["persona_mcp.outcome"] == "ok"
    call_id = call.attributes["persona_mcp.call_id"]
    upstream = [span for span in spans if span.name == "persona GET"]
    assert upstream and all(span.kind is SpanKind.CLIENT for span in upstream)
    assert all(span.parent is not None and span.parent.span_id == call.context.span_id for span in upstream)
    assert upstream[0].attributes is not None
    assert upstream[0].attributes["http.response.status_code"] == 200
    assert upstream[0].attributes["url.path"].endswith("/accounts")
    for span in spans:
        assert CANARY not in repr(dict(span.attributes or {})), span.name

    events = [entry for entry in logs if entry["event"] == "tool call"]
    assert len(events) == 1
    event = events[0]
    assert event["call_id"] == call_id
    assert event["tool"] == "list_accounts" and event["decision"] == "allowed" and event["outcome"] == "ok"
    assert event["duration_ms"] > 0 and event["log_level"] == "info"
    assert CANARY not in repr(logs)
    assert not {"principal", "arguments", "subject"} & event.keys()


async def test_an_upstream_error_is_logged_at_warning_level(tmp_path: Path) -> None:
    async with _server(sandbox_settings(tmp_path)) as (app, _http):
        token = await issue_grant(app, ["accounts:read"])
        assert isinstance(app.caller_source, StaticTokenCallers)
        app.caller_source.token = token
        with capture_logs() as logs:
            async with Client(app.server) as client:
                result = await client.call_tool("get_account", {"account_id": "act_doesnotexist1234"})
    assert result.is_error
    warned = [entry for entry in logs if entry["event"] == "persona.upstream_error"]
    assert warned and warned[0]["log_level"] == "warning" and warned[0]["status"] == 404


def test_a_separate_metrics_address_serves_metrics_only(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    env = clean_env(tmp_path, PERSONA_MCP_METRICS_BIND=f"127.0.0.1:{metrics_port}")
    process = subprocess.Popen(
        [sys.executable, "-m", "persona_mcp.cli", "serve", "--transport", "http", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                scraped = httpx2.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2)
                break
            except httpx2.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert scraped.status_code == 200
        names = {family.name for family in text_string_to_metric_families(scraped.text)}
        assert {
            "persona_mcp_tool_calls",
            "persona_mcp_sessions_open",
            "persona_mcp_audit_queue_depth",
        } <= names
        assert httpx2.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 404
        assert httpx2.get(f"http://127.0.0.1:{metrics_port}/mcp", timeout=5).status_code == 404
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_a_stdio_server_serves_metrics_on_its_own_address_only(tmp_path: Path) -> None:
    metrics_port = free_port()
    env = clean_env(tmp_path, PERSONA_MCP_METRICS_BIND=f"127.0.0.1:{metrics_port}")
    process = subprocess.Popen(
        [sys.executable, "-m", "persona_mcp.cli", "serve"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                scraped = httpx2.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2)
                break
            except httpx2.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert scraped.status_code == 200
        names = {family.name for family in text_string_to_metric_families(scraped.text)}
        assert {"persona_mcp_tool_calls", "persona_mcp_audit_ok"} <= names
    finally:
        assert process.stdin is not None
        process.stdin.close()  # the session ends with its input
        process.wait(timeout=30)
    assert process.stdout is not None and process.stdout.read() == b"", "stdout carries JSON-RPC only"
