"""Metrics, traces and one log line per call: what an operator's monitoring sees of the server.

The pipeline and the app call one `Observer` through a few hooks (`tool_call` around each call,
`recorded` after each audit append, `wrap_transport` around the upstream pool), so the call path itself
stays about calls. Everything the observer reports is free of personal data and secrets: tool names
(a name the catalogue does not have is reported as `unknown`), decisions, outcomes, error kinds, grant
and call ids, HTTP methods, statuses and URL paths (Persona ids only; query strings, which carry search
filters, never).

* Prometheus metrics live in the observer's own registry, served by `/metrics` only when configured
  (`PERSONA_MCP_METRICS_TOKEN` or `PERSONA_MCP_METRICS_BIND`).
* OpenTelemetry spans: one per tool call (`tools/call <tool>`, kind SERVER) and one per upstream request
  (`persona <METHOD>`, kind CLIENT), through the global tracer provider (a no-op unless configured;
  `configure_tracing` installs an OTLP exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` is set).
* One structured log event per call (`tool call`): call id, tool, decision, outcome, error kind, duration.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any

import httpx2
import structlog
from opentelemetry import trace
from opentelemetry.trace import (
    Span,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
    TracerProvider,
)
from opentelemetry.util.types import Attributes
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

import persona_mcp
from persona_mcp.server.sdk_spans import otlp_endpoint_configured, records_spans

log = structlog.get_logger("persona_mcp.call")
upstream_log = structlog.get_logger("persona_mcp.upstream")

#: Audit record kinds that end a call (allowed or denied): one each per call.
CALL_END_KINDS = frozenset({"call.outcome", "call.denied"})
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_APPEND_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

GaugeSource = Callable[[], Iterable[Metric]]
#: The span of an upstream request when nothing is traced: its attribute and status calls do nothing.
_UNTRACED: AbstractContextManager[Span] = nullcontext(trace.INVALID_SPAN)
#: When the current tools/call began (set by `Observer.tool_call`), for calls whose record has no latency.
_call_started: ContextVar[float | None] = ContextVar("persona_mcp_call_started", default=None)


class _Gauges(Collector):
    """Values read at scrape time (sessions, audit queue, SIEM lag) from whoever holds them."""

    def __init__(self) -> None:
        self.sources: list[GaugeSource] = []

    def collect(self) -> Iterable[Metric]:
        for source in self.sources:
            yield from source()


def gauge(name: str, documentation: str, value: float, labels: Mapping[str, str] | None = None) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=list(labels or {}))
    family.add_metric(list((labels or {}).values()), value)
    return family


class Observer:
    """Counts, times and traces calls; see the module docstring for what it reports."""

    def __init__(
        self,
        *,
        known_tools: Iterable[str] = (),
        registry: CollectorRegistry | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self._known = frozenset(known_tools)
        provider = tracer_provider or trace.get_tracer_provider()
        self.tracer: Tracer = provider.get_tracer("persona_mcp", persona_mcp.__version__)
        # With no provider configured (before `configure_tracing`, or without an OTLP endpoint) spans
        # record nothing: they are not started at all, which spares two OpenTelemetry context changes a
        # call (~4 us each). A provider set later than this observer is not seen.
        self.tracing = records_spans(provider)
        self._gauges = _Gauges()
        self.registry.register(self._gauges)
        r = self.registry
        self.calls = Counter(
            "persona_mcp_tool_calls",
            "Tool calls by tool, decision and outcome.",
            ["tool", "decision", "outcome"],
            registry=r,
        )
        self.call_seconds = Histogram(
            "persona_mcp_tool_call_duration_seconds",
            "Tool call duration, as audited.",
            ["tool"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.rate_limited = Counter(
            "persona_mcp_rate_limited_calls", "Calls refused by a grant's rate limit.", ["tool"], registry=r
        )
        self.upstream = Counter(
            "persona_mcp_upstream_requests",
            "Requests to Persona by method and status (`error`: no answer).",
            ["method", "status"],
            registry=r,
        )
        self.upstream_seconds = Histogram(
            "persona_mcp_upstream_request_duration_seconds",
            "Persona request latency until the answer (read in full by the default transport).",
            ["method"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_throttled = Counter(
            "persona_mcp_upstream_rate_limited", "Persona answers 429 (its rate limit reached).", registry=r
        )
        self.append_seconds = Histogram(
            "persona_mcp_audit_append_duration_seconds",
            "Time for an audit record to be durable.",
            buckets=_APPEND_BUCKETS,
            registry=r,
        )
        self.append_failures = Counter(
            "persona_mcp_audit_append_failures",
            "Audit appends that failed (the call was refused).",
            registry=r,
        )

    def know_tools(self, known_tools: Iterable[str]) -> None:
        """The tool names its labels may carry, for an observer made before the catalogue was loaded."""
        self._known = frozenset(known_tools)

    def add_gauges(self, source: GaugeSource) -> None:
        """Report the metrics `source` yields at each scrape."""
        self._gauges.sources.append(source)

    def _tool_label(self, tool: Any) -> str:
        return tool if isinstance(tool, str) and tool in self._known else "unknown"

    # -- hooks -------------------------------------------------------------------------------------------

    @contextmanager
    def tool_call(self, tool: str) -> Iterator[None]:
        """The span of one tools/call; `recorded` adds the decision and outcome to it."""
        started = _call_started.set(time.perf_counter())
        try:
            if not self.tracing:  # the usual case: nothing to name or label
                yield
                return
            label = self._tool_label(tool)
            with self.span(
                f"tools/call {label}",
                SpanKind.SERVER,
                {"mcp.method.name": "tools/call", "gen_ai.tool.name": label},
            ):
                yield
        finally:
            _call_started.reset(started)

    def span(self, name: str, kind: SpanKind, attributes: Attributes) -> AbstractContextManager[Span]:
        """A span made current for the block; with nothing tracing, the invalid span, nothing started."""
        if not self.tracing:
            return _UNTRACED
        return self.tracer.start_as_current_span(name, kind=kind, attributes=attributes)

    def recorded(self, event: Mapping[str, Any], *, append_seconds: float, failed: bool) -> None:
        """After each audit append of the call path: append latency, and for a call's last record the
        call's metrics, its span attributes and its log line."""
        self.append_seconds.observe(append_seconds)
        if failed:
            self.append_failures.inc()
        if event.get("kind") not in CALL_END_KINDS:
            return
        tool = self._tool_label(event.get("tool"))
        decision = str(event.get("decision") or "none")
        outcome = str(event.get("outcome") or "none")
        self.calls.labels(tool, decision, outcome).inc()
        latency_ms = event.get("latency_ms")
        began = _call_started.get()
        if latency_ms is None and began is not None:  # a denial records no latency; the call still took time
            latency_ms = round((time.perf_counter() - began) * 1000, 3)
        if isinstance(latency_ms, int | float):
            self.call_seconds.labels(tool).observe(latency_ms / 1000)
        if event.get("reason") == "rate limited":
            self.rate_limited.labels(tool).inc()
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attributes(
                {
                    "persona_mcp.call_id": str(event.get("call_id") or ""),
                    "persona_mcp.decision": decision,
                    "persona_mcp.outcome": outcome,
                    "persona_mcp.grant_id": str(event.get("grant_id") or ""),
                    **({"error.type": str(event["error_kind"])} if event.get("error_kind") else {}),
                }
            )
            if decision == "denied" or outcome in ("error", "unknown") or failed:
                span.set_status(Status(StatusCode.ERROR))
        log.info(
            "tool call",
            call_id=event.get("call_id"),
            tool=tool,
            decision=decision,
            outcome=outcome,
            error_kind=event.get("error_kind"),
            duration_ms=latency_ms,
            grant_id=event.get("grant_id"),
        )

    def wrap_transport(self, inner: httpx2.AsyncBaseTransport) -> httpx2.AsyncBaseTransport:
        return _ObservedTransport(inner, self)


class _ObservedTransport(httpx2.AsyncBaseTransport):
    """Times and traces each request to Persona; warns on an error answer or no answer."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, observer: Observer) -> None:
        self._inner = inner
        self._observer = observer

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        observer = self._observer
        method = request.method
        path = request.url.path  # never the query: list filters carry personal data
        started = time.perf_counter()
        attributes = (
            {"http.request.method": method, "server.address": request.url.host, "url.path": path}
            if observer.tracing
            else None
        )
        with observer.span(f"persona {method}", SpanKind.CLIENT, attributes) as span:
            try:
                response = await self._inner.handle_async_request(request)
            except Exception as exc:
                observer.upstream.labels(method, "error").inc()
                observer.upstream_seconds.labels(method).observe(time.perf_counter() - started)
                span.set_attribute("error.type", type(exc).__name__)
                span.set_status(Status(StatusCode.ERROR))
                upstream_log.warning(
                    "persona.upstream_failed", method=method, path=path, error=type(exc).__name__
                )
                raise
            status = response.status_code
            observer.upstream.labels(method, str(status)).inc()
            observer.upstream_seconds.labels(method).observe(time.perf_counter() - started)
            span.set_attribute("http.response.status_code", status)
            if status == 429:
                observer.upstream_throttled.inc()
            if status >= 400:
                span.set_status(Status(StatusCode.ERROR))
                upstream_log.warning("persona.upstream_error", method=method, path=path, status=status)
            return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def configure_tracing() -> bool:
    """Install an OTLP span exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set.

    The exporter is the optional extra `persona-mcp[otlp]`; without it a warning says so and spans stay
    off. Returns whether spans are exported.
    """
    global _tracing_configured
    if _tracing_configured:
        return True
    if not otlp_endpoint_configured():
        return False
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        upstream_log.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but the OTLP exporter is not installed",
            hint="pip install 'persona-mcp[otlp]'",
        )
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = SdkTracerProvider(
        resource=Resource.create({"service.name": "persona-mcp", "service.version": persona_mcp.__version__})
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _tracing_configured = True
    return True


_tracing_configured = False
