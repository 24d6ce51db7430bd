"""The SDK's span around every message: dropped while no span can be exported, kept when spans go
somewhere (an OTLP endpoint, or a tracer provider installed before the server is built), so a traced
deployment still gets the client's trace context on every message."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mcp.server._otel import OpenTelemetryMiddleware
from mcp.server.lowlevel import Server

from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.server.app import open_server
from persona_mcp.server.front import StackSlot, front_server
from persona_mcp.server.sdk_spans import OTLP_ENDPOINT_VARIABLES
from persona_mcp.testing import sandbox_app, sandbox_settings

pytestmark = pytest.mark.anyio


def _wraps_messages_in_sdk_spans(server: Server[object]) -> bool:
    return any(isinstance(middleware, OpenTelemetryMiddleware) for middleware in server.middleware)


@pytest.fixture
def no_otlp_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTLP_ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("no_otlp_endpoint")
async def test_without_a_tracer_provider_no_message_is_wrapped_in_an_sdk_span(tmp_path: Path) -> None:
    assert not _wraps_messages_in_sdk_spans(front_server(StackSlot()))
    async with open_server(
        sandbox_settings(tmp_path), transport="memory", persona_transport=SandboxTransport(sandbox_app())
    ) as app:
        assert not _wraps_messages_in_sdk_spans(app.server)


@pytest.mark.parametrize("variable", OTLP_ENDPOINT_VARIABLES)
def test_an_otlp_endpoint_keeps_the_sdk_span_on_the_front_built_before_tracing_is_configured(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    for name in OTLP_ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, "http://127.0.0.1:4318")
    assert _wraps_messages_in_sdk_spans(front_server(StackSlot()))


_TRACED = textwrap.dedent(
    """
    import anyio, sys
    from pathlib import Path
    from mcp import Client
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from persona_mcp.sandbox.transport import SandboxTransport
    from persona_mcp.server.app import open_server
    from persona_mcp.server.callers import StaticTokenCallers
    from persona_mcp.testing import issue_grant, sandbox_app, sandbox_settings

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    async def main() -> None:
        settings = sandbox_settings(Path(sys.argv[1]))
        transport = SandboxTransport(sandbox_app())
        async with open_server(settings, transport="memory", persona_transport=transport) as app:
            token = await issue_grant(app, ["accounts:read"])
            assert isinstance(app.caller_source, StaticTokenCallers)
            app.caller_source.token = token
            async with Client(app.server) as client:
                assert not (await client.call_tool("list_accounts", {})).is_error
        for span in exporter.get_finished_spans():
            print(span.instrumentation_scope.name, span.name, span.kind.name)

    anyio.run(main)
    """
)


def test_an_installed_tracer_provider_keeps_the_sdk_span_for_every_message(tmp_path: Path) -> None:
    # A process-wide provider can be installed once per process: this runs in its own.
    env = {key: value for key, value in os.environ.items() if key not in OTLP_ENDPOINT_VARIABLES}
    done = subprocess.run(
        [sys.executable, "-c", _TRACED, str(tmp_path)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    spans = done.stdout.splitlines()
    assert "mcp-python-sdk tools/call list_accounts SERVER" in spans
    assert "mcp-python-sdk tools/list SERVER" in spans
    assert "persona_mcp persona GET CLIENT" in spans
