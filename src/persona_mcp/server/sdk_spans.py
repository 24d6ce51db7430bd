"""The SDK's span around every message, kept only where spans go somewhere.

The low-level `Server` ships with `OpenTelemetryMiddleware`, which wraps each inbound message in a SERVER
span carrying the client's trace context (`_meta.traceparent`); the SDK documents dropping it from
`Server.middleware` as the way to opt out. Until a tracer provider is installed the span records
nothing, but starting it still costs each message a span name and attribute dict, a context lookup and
two context changes: ~3 % of the event loop's time serving reads over stdio (py-spy, issue 18,
benchmarks/README.md). So a server drops it when no span can be exported, and keeps it otherwise: with
`configure_tracing`'s OTLP endpoint, or with a provider installed before the server is built (for
instance by `opentelemetry-instrument`).

The decision is made when a server is built. The stdio front is built before the stack that runs
`configure_tracing` opens, which is why the endpoint variables count as much as an installed provider.

This module imports only what the SDK's server already imports, so the stdio front can use it.
"""

from __future__ import annotations

import os
from typing import Any

from mcp.server._otel import OpenTelemetryMiddleware
from mcp.server.lowlevel import Server
from opentelemetry import trace
from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider, TracerProvider

#: Either one makes `configure_tracing` install an OTLP exporter (the OpenTelemetry SDK's own names).
OTLP_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def otlp_endpoint_configured() -> bool:
    return any(os.environ.get(name) for name in OTLP_ENDPOINT_VARIABLES)


def records_spans(provider: TracerProvider | None = None) -> bool:
    """Whether `provider` (by default the global one) is a real one: without it every span is a no-op."""
    provider = provider or trace.get_tracer_provider()
    return not isinstance(provider, ProxyTracerProvider | NoOpTracerProvider)


def without_idle_spans(server: Server[Any]) -> Server[Any]:
    """`server`, without the SDK's span middleware unless spans are, or are about to be, exported."""
    if not (records_spans() or otlp_endpoint_configured()):
        server.middleware[:] = [m for m in server.middleware if not isinstance(m, OpenTelemetryMiddleware)]
    return server


__all__ = ["OTLP_ENDPOINT_VARIABLES", "otlp_endpoint_configured", "records_spans", "without_idle_spans"]
