"""Assembling the server: every collaborator injectable, no globals.

`open_server(settings, ...)` opens the store (and migrates it), the audit log, the grant and credential
stores and the Persona client, builds the call pipeline and the SDK's low-level `Server`, and closes all
of it on exit. Tests pass a sandbox transport, a store or a clock; production passes nothing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx2
import mcp_types as types
import structlog
from mcp.server.lowlevel import Server
from prometheus_client.core import Metric

import persona_mcp
from persona_mcp.audit import AuditLogReader
from persona_mcp.audit.forwarding import Forwarder, open_sink
from persona_mcp.auth.approvals import ApprovalStore
from persona_mcp.auth.call_limits import CallCounters
from persona_mcp.auth.credentials import CredentialStore, open_credential_resolver
from persona_mcp.auth.credentials.secretbox import load_secret_box
from persona_mcp.config import Settings
from persona_mcp.events.follow import RotationFollower
from persona_mcp.events.service import Events, open_events
from persona_mcp.persona.client import PersonaClient, RetryPolicy
from persona_mcp.server.approval_review import ApprovalReview
from persona_mcp.server.approvals import ApprovalGate
from persona_mcp.server.callers import CallerSource
from persona_mcp.server.core import ServerCore, open_core
from persona_mcp.server.errors import Refusal
from persona_mcp.server.event_resources import EVENTS_SCHEME, EventResources
from persona_mcp.server.event_resources import TEMPLATES as EVENT_TEMPLATES
from persona_mcp.server.exposure import ExposureOptions, exposed_tools
from persona_mcp.server.identity import INSTRUCTIONS, NAME, TITLE
from persona_mcp.server.observe import Observer, gauge
from persona_mcp.server.pipeline import CallPipeline
from persona_mcp.server.resources import FileResources, unknown_resource
from persona_mcp.server.sdk_spans import without_idle_spans
from persona_mcp.server.session_info import session_info_from_context
from persona_mcp.server.startup_checks import StartupWarning, log_warnings, startup_warnings
from persona_mcp.server.upstream_windows import rate_gate_for
from persona_mcp.store import Store
from persona_mcp.tools.mcp_schema import ListedTools
from persona_mcp.tools.registry import build_models
from persona_mcp.tools.saved_files import FileRetention, SavedFiles, saved_files_dir

log = structlog.get_logger("persona_mcp.server")

#: How old the checks /healthz shows may be (a few small queries; concurrent probes share one run).
RECHECK_SECONDS = 0.0


@dataclass(slots=True, kw_only=True)
class PersonaMcp(ServerCore):
    """The assembled server: its core (store, audit log, grants, callers: `server/core.py`) and the rest,
    with the parts tests and transports need to reach."""

    server: Server[Any]
    pipeline: CallPipeline
    #: The approvers' side of held calls (`persona-mcp approvals`, a reviewer console).
    review: ApprovalReview
    #: Webhook receiver, event store and subscriptions (issue 15).
    events: Events
    #: States found at start (or at the last re-check) in which calls will fail; /healthz: `degraded`.
    warnings: list[StartupWarning] = field(default_factory=list)
    recheck: Callable[[], Awaitable[list[StartupWarning]]] | None = None
    credential_store: CredentialStore | None = None
    #: SIEM forwarding running in the background, when a sink is configured.
    forwarder: Forwarder | None = None
    checked_at: float = 0.0
    _recheck_lock: anyio.Lock = field(default_factory=anyio.Lock)

    def health(self) -> dict[str, Any]:
        audit = self.audit.health
        forwarding = self.forwarder.state if self.forwarder is not None else None
        degraded = bool(self.warnings) or (forwarding is not None and not forwarding.sink_up)
        report: dict[str, Any] = {
            "status": "unavailable" if not audit.ok else "degraded" if degraded else "ok",
            "audit": {"ok": audit.ok, "reason": audit.reason, "spooled": self.audit.spooled},
            "warnings": [warning.as_dict() for warning in self.warnings],
            "version": persona_mcp.__version__,
            "instance": self.instance_id,
        }
        if forwarding is not None:
            report["siem"] = {"sink": forwarding.sink, "up": forwarding.sink_up, "lag": forwarding.lag}
        return report

    async def refresh_warnings(self, *, max_age_s: float = RECHECK_SECONDS) -> None:
        """Re-run the start-up checks if the last run is older than `max_age_s` (a grant created since, a
        credential added), so /healthz does not stay degraded until a restart."""
        if self.recheck is None or time.monotonic() - self.checked_at < max_age_s:
            return
        async with self._recheck_lock:  # concurrent probes share one run
            if time.monotonic() - self.checked_at < max_age_s:
                return
            self.warnings = await self.recheck()
            self.checked_at = time.monotonic()


def build_lowlevel_server(
    pipeline: CallPipeline,
    callers: CallerSource,
    transport: str,
    files: FileResources,
    observer: Observer | None = None,
    events: EventResources | None = None,
) -> Server[Any]:
    """The SDK's low-level Server, whose list handlers see the request (per-caller listing).

    It also serves the files tools saved as resources, which declares the `resources` capability, and
    each object's events (`persona://.../events`) with subscriptions."""
    tools_by_name = ListedTools(pipeline.exposed)

    async def on_list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        caller = await callers.current(ctx)
        return types.ListToolsResult(tools=[tools_by_name[spec.name] for spec in pipeline.visible_to(caller)])

    async def on_call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        observed = observer.tool_call(params.name) if observer is not None else contextlib.nullcontext()
        with pipeline.in_flight(), observed:
            caller = await callers.current(ctx)
            session = session_info_from_context(ctx, transport)
            refusal = await callers.refusal(ctx) if caller is None else None
            try:
                return await pipeline.call(
                    caller,
                    params.name,
                    params.arguments,
                    session,
                    refusal=refusal,
                    # The request-scoped session sends notifications/progress when the client gave a token.
                    progress=getattr(getattr(ctx, "session", None), "report_progress", None),
                )
            except Refusal as refusal:
                raise refusal.to_mcp() from None

    async def on_list_resources(
        ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return await files.list(await callers.current(ctx))

    async def on_read_resource(ctx: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        caller = await callers.current(ctx)
        refusal = await callers.refusal(ctx) if caller is None else None
        session = session_info_from_context(ctx, transport)
        try:
            if events is not None and str(params.uri).startswith(EVENTS_SCHEME):
                return await events.read(caller, str(params.uri), session, refusal=refusal)
            return await files.read(caller, str(params.uri), session, refusal=refusal)
        except Refusal as refused:
            raise refused.to_mcp() from None

    async def on_list_resource_templates(
        ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        caller = await callers.current(ctx)
        shown = events is not None and caller is not None and events.visible_to(caller)
        return types.ListResourceTemplatesResult(resource_templates=list(EVENT_TEMPLATES) if shown else [])

    async def on_subscribe_resource(ctx: Any, params: types.SubscribeRequestParams) -> types.EmptyResult:
        caller = await callers.current(ctx)
        refusal = await callers.refusal(ctx) if caller is None else None
        session = session_info_from_context(ctx, transport)
        try:
            if events is None:
                raise unknown_resource(str(params.uri))
            await events.subscribe(caller, ctx, str(params.uri), session, refusal=refusal)
        except Refusal as refused:
            raise refused.to_mcp() from None
        return types.EmptyResult()

    async def on_unsubscribe_resource(ctx: Any, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
        if events is not None:
            events.unsubscribe(ctx, str(params.uri))
        return types.EmptyResult()

    async def on_listen(
        ctx: Any, params: types.SubscriptionsListenRequestParams
    ) -> types.SubscriptionsListenResult:
        caller = await callers.current(ctx)
        refusal = await callers.refusal(ctx) if caller is None else None
        session = session_info_from_context(ctx, transport)
        try:
            if events is None:
                raise unknown_resource("subscriptions/listen")
            return await events.listen(caller, ctx, params, session, refusal=refusal)
        except Refusal as refused:
            raise refused.to_mcp() from None

    def input_schema(name: str) -> dict[str, Any] | None:
        # Lets the SDK check Mcp-Param headers without running the per-caller listing on every call.
        tool = tools_by_name.get(name)
        return tool.input_schema if tool is not None else None

    server: Server[Any] = Server(
        NAME,
        get_tool_input_schema=input_schema,
        version=persona_mcp.__version__,
        title=TITLE,
        instructions=INSTRUCTIONS,
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
        on_list_resources=on_list_resources,
        on_read_resource=on_read_resource,
        on_list_resource_templates=on_list_resource_templates,
        on_subscribe_resource=on_subscribe_resource,
        on_unsubscribe_resource=on_unsubscribe_resource,
        on_subscriptions_listen=on_listen,
    )
    return without_idle_spans(server)


@asynccontextmanager
async def open_server(
    settings: Settings,
    *,
    exposure: ExposureOptions | None = None,
    transport: str = "stdio",
    callers: CallerSource | None = None,
    persona_transport: httpx2.AsyncBaseTransport | None = None,
    store: Store | None = None,
    instance_id: str | None = None,
    resource_url: str | None = None,
    jwks_transport: httpx2.AsyncBaseTransport | None = None,
    observer: Observer | None = None,
    log_startup_warnings: bool = True,
    core: ServerCore | None = None,
) -> AsyncIterator[PersonaMcp]:
    """Open every collaborator, yield the assembled server, close everything on exit.

    With `core` (already open, and closed by its owner) only the rest is opened: the HTTP server answers
    `initialize` on its core while this runs (`server/run.py`); the core's own options are then unused."""
    exposed = exposed_tools(exposure or ExposureOptions())  # unknown names fail before anything opens
    await anyio.to_thread.run_sync(build_models, exposed)  # the others are never built (defer_build)
    async with AsyncExitStack() as stack:
        if core is None:
            core = await stack.enter_async_context(
                open_core(
                    settings,
                    transport=transport,
                    callers=callers,
                    store=store,
                    instance_id=instance_id,
                    resource_url=resource_url,
                    jwks_transport=jwks_transport,
                    observer=observer,
                )
            )
        core.know_tools([spec.name for spec in exposed])
        store, audit, observer = core.store, core.audit, core.observer
        saved = FileRetention(saved_files_dir(settings.data_dir), settings.file_retention_seconds)
        stack.enter_context(saved.sweeping())
        files = SavedFiles(saved.directory, saved.max_age_seconds)
        credentials = await open_credential_resolver(
            store, settings, events=audit, http_transport=persona_transport
        )
        persona = PersonaClient(
            base_url=settings.persona.base_url,
            credentials=_NoCredential(),
            version=settings.persona.version,
            timeout=settings.persona.timeout_seconds,
            retry=RetryPolicy(
                max_retries=settings.persona.max_retries, budget_seconds=settings.persona.retry_budget_seconds
            ),
            transport=persona_transport,
            rate_gate=rate_gate_for(store),
        )
        stack.push_async_callback(persona.aclose)
        persona.wrap_transports(observer.wrap_transport)
        approvals, counters = ApprovalStore(store), CallCounters(store)
        box = await anyio.to_thread.run_sync(load_secret_box, settings.secret_key, settings.data_dir)
        gate = ApprovalGate(
            approvals=approvals, counters=counters, audit=audit, box=box, settings=settings.approvals
        )
        review = ApprovalReview(
            approvals=approvals, grants=core.grants, audit=audit, box=box, tools=exposed, counters=counters
        )
        pipeline = CallPipeline(
            exposed=exposed,
            persona=persona,
            credentials=credentials,
            audit=audit,
            rate_limiter=core.rate_limiter,
            data_dir=settings.data_dir,
            audit_reader=AuditLogReader.for_log(audit),
            clock=lambda: datetime.now(UTC),
            files=files,
            observer=observer,
            gate=gate,
        )
        events = await stack.enter_async_context(open_events(store, settings, audit))
        events.receiver.refresh = RotationFollower(events.endpoints, credentials, persona)
        event_resources = EventResources(events.store, events.hub, pipeline)
        pump = await stack.enter_async_context(anyio.create_task_group())
        pump.start_soon(event_resources.run)
        stack.callback(pump.cancel_scope.cancel)
        pipeline.events = events
        server = build_lowlevel_server(
            pipeline, core.caller_source, transport, FileResources(files, pipeline), observer, event_resources
        )
        token = settings.token.get_secret_value() if settings.token else None

        async def check() -> list[StartupWarning]:
            return await startup_warnings(
                settings=settings,
                transport=transport,
                grants=core.grants,
                callers=core.callers,
                credentials=credentials.credentials,
                stdio_token=token,
                now=datetime.now(UTC),
            )

        warnings = await check()
        if log_startup_warnings:  # the demo creates its grant right after opening: nothing to warn about
            log_warnings(warnings)
        forwarder = None
        if settings.siem.enabled:
            forwarder = await _start_forwarding(stack, store, settings)
        observer.add_gauges(lambda: _forwarding_gauges(forwarder))
        log.info("server ready", tools=len(exposed), transport=transport, instance=core.instance_id)
        yield PersonaMcp(
            **{part.name: getattr(core, part.name) for part in fields(ServerCore)},
            server=server,
            pipeline=pipeline,
            warnings=warnings,
            recheck=check,
            credential_store=credentials.credentials,
            forwarder=forwarder,
            checked_at=time.monotonic(),
            review=review,
            events=events,
        )


def _forwarding_gauges(forwarder: Forwarder | None) -> Iterator[Metric]:
    """SIEM forwarding's state, read at each scrape (the audit log's are the core's)."""
    if forwarder is not None:
        state, sink = forwarder.state, {"sink": forwarder.state.sink}
        yield gauge(
            "persona_mcp_siem_lag_records", "Audit records not yet accepted by the sink.", state.lag, sink
        )
        yield gauge(
            "persona_mcp_siem_up", "1 while the last delivery to the sink succeeded.", state.sink_up, sink
        )
        yield gauge(
            "persona_mcp_siem_cursor_seq", "Seq of the last record the sink accepted.", state.cursor, sink
        )


async def _start_forwarding(stack: AsyncExitStack, store: Store, settings: Settings) -> Forwarder:
    """SIEM forwarding as a background task of the server: it only reads the audit log, so a sink that is
    down delays forwarding (the lag grows) and never a tool call."""
    from persona_mcp.tools.activities import tool_activities

    siem = settings.siem
    forwarder = Forwarder(
        store,
        open_sink(siem),
        name=siem.name,
        batch_size=siem.batch_size,
        poll_seconds=siem.poll_seconds,
        retry_max_seconds=siem.retry_max_seconds,
        activities=tool_activities(),
    )
    tasks = await stack.enter_async_context(anyio.create_task_group())
    stack.callback(tasks.cancel_scope.cancel)  # runs first on exit: stop forwarding, then leave the group
    tasks.start_soon(forwarder.run)
    return forwarder


class _NoCredential:
    """The root client never calls Persona itself: each call binds the caller's credential."""

    async def bearer_token(self) -> str:
        raise RuntimeError("no credential bound: Persona calls go through a per-call bound client")

    async def on_unauthorized(self, rejected_token: str) -> bool:
        return False
