"""Assembling the server: every collaborator injectable, no globals.

`open_server(settings, ...)` opens the store (and migrates it), the audit log, the grant and credential
stores and the Persona client, builds the call pipeline and the SDK's low-level `Server`, and closes all
of it on exit. Tests pass a sandbox transport, a store or a clock; production passes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx2
import mcp_types as types
import structlog
from mcp.server.lowlevel import Server

import persona_mcp
from persona_mcp.audit import AuditLog, AuditLogReader, default_instance_id
from persona_mcp.audit.checkpoint import checkpoint_anchor
from persona_mcp.auth.callers import CallerResolver
from persona_mcp.auth.credentials import open_credential_resolver
from persona_mcp.auth.grants import GrantStore
from persona_mcp.auth.jwt import JwtVerifier
from persona_mcp.auth.ratelimit import GrantRateLimiter
from persona_mcp.config import Settings, create_private_dir
from persona_mcp.events.follow import RotationFollower
from persona_mcp.events.service import Events, open_events
from persona_mcp.persona.client import PersonaClient, RetryPolicy
from persona_mcp.persona.ratelimit import RateGate
from persona_mcp.server.callers import BearerTokenCallers, CallerSource, StaticTokenCallers
from persona_mcp.server.errors import Refusal
from persona_mcp.server.event_resources import EVENTS_SCHEME, EventResources
from persona_mcp.server.event_resources import TEMPLATES as EVENT_TEMPLATES
from persona_mcp.server.exposure import ExposureOptions, exposed_tools
from persona_mcp.server.identity import INSTRUCTIONS, NAME, TITLE
from persona_mcp.server.pipeline import CallPipeline
from persona_mcp.server.resources import FileResources, unknown_resource
from persona_mcp.server.session_info import session_info_from_context
from persona_mcp.server.upstream_windows import ledger_for
from persona_mcp.store import Store, create_store, serving_bounds, upgrade
from persona_mcp.tools.mcp_schema import to_mcp_tool
from persona_mcp.tools.saved_files import FileRetention, SavedFiles, saved_files_dir

log = structlog.get_logger("persona_mcp.server")


@dataclass(slots=True)
class PersonaMcp:
    """The assembled server and the parts tests and transports need to reach."""

    settings: Settings
    server: Server[Any]
    pipeline: CallPipeline
    store: Store
    audit: AuditLog
    grants: GrantStore
    callers: CallerResolver
    caller_source: CallerSource
    instance_id: str
    events: Events

    def health(self) -> dict[str, Any]:
        audit = self.audit.health
        return {
            "status": "ok" if audit.ok else "unavailable",
            "audit": {"ok": audit.ok, "reason": audit.reason, "spooled": self.audit.spooled},
            "version": persona_mcp.__version__,
            "instance": self.instance_id,
        }


def build_lowlevel_server(
    pipeline: CallPipeline,
    callers: CallerSource,
    transport: str,
    files: FileResources,
    events: EventResources | None = None,
) -> Server[Any]:
    """The SDK's low-level Server, whose list handlers see the request (per-caller listing).

    It also serves the files tools saved as resources, which declares the `resources` capability, and
    each object's events (`persona://.../events`) with subscriptions."""
    tools_by_name = {spec.name: to_mcp_tool(spec) for spec in pipeline.exposed}

    async def on_list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        caller = await callers.current(ctx)
        return types.ListToolsResult(tools=[tools_by_name[spec.name] for spec in pipeline.visible_to(caller)])

    async def on_call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        caller = await callers.current(ctx)
        session = session_info_from_context(ctx, transport)
        refusal = await callers.refusal(ctx) if caller is None else None
        try:
            return await pipeline.call(caller, params.name, params.arguments, session, refusal=refusal)
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

    return Server(
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
) -> AsyncIterator[PersonaMcp]:
    """Open every collaborator, yield the assembled server, close everything on exit."""
    exposed = exposed_tools(exposure or ExposureOptions())  # unknown names fail before anything opens
    instance = instance_id or default_instance_id(settings.data_dir)
    async with AsyncExitStack() as stack:
        create_private_dir(settings.data_dir)
        saved = FileRetention(saved_files_dir(settings.data_dir), settings.file_retention_seconds)
        stack.enter_context(saved.sweeping())
        files = SavedFiles(saved.directory, saved.max_age_seconds)
        if store is None:
            # Short waits on the request path: a stalled lock holder gets calls refused, never hung.
            bounds = serving_bounds(settings.store, outbound_timeout_s=settings.persona.timeout_seconds)
            store = create_store(settings.resolved_database_url, bounds=bounds)
            stack.push_async_callback(store.close)
        await upgrade(store)
        anchor = checkpoint_anchor(settings.audit_checkpoint_location, settings.data_dir)
        audit = await AuditLog.open(
            store,
            data_dir=settings.data_dir,
            instance_id=instance,
            external_checkpoint_path=anchor.file,
            checkpoint_witness_url=anchor.witness_url,
        )
        stack.push_async_callback(audit.aclose)
        grants = GrantStore(store, audit, known_tools=[spec.name for spec in exposed])
        jwt = None
        if transport == "http" and settings.oauth.enabled:
            jwt = JwtVerifier(settings.oauth, audience=resource_url, transport=jwks_transport)
        resolver = CallerResolver(grants, jwt=jwt)
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
            rate_gate=RateGate(ledger_for(store)),
        )
        stack.push_async_callback(persona.aclose)
        pipeline = CallPipeline(
            exposed=exposed,
            persona=persona,
            credentials=credentials,
            audit=audit,
            rate_limiter=GrantRateLimiter(),
            data_dir=settings.data_dir,
            audit_reader=AuditLogReader.for_log(audit),
            clock=lambda: datetime.now(UTC),
            files=files,
        )
        token = settings.token.get_secret_value() if settings.token else None
        if callers is not None:
            caller_source = callers
        elif transport == "http":
            caller_source = BearerTokenCallers(resolver)
        else:
            caller_source = StaticTokenCallers(resolver, token)
        events = await stack.enter_async_context(open_events(store, settings, audit))
        events.receiver.refresh = RotationFollower(events.endpoints, credentials, persona)
        event_resources = EventResources(events.store, events.hub, pipeline)
        pump = await stack.enter_async_context(anyio.create_task_group())
        pump.start_soon(event_resources.run)
        stack.callback(pump.cancel_scope.cancel)
        pipeline.events = events
        server = build_lowlevel_server(
            pipeline, caller_source, transport, FileResources(files, pipeline), event_resources
        )
        log.info("server ready", tools=len(exposed), transport=transport, instance=instance)
        yield PersonaMcp(
            settings=settings,
            server=server,
            pipeline=pipeline,
            store=store,
            audit=audit,
            grants=grants,
            callers=resolver,
            caller_source=caller_source,
            instance_id=instance,
            events=events,
        )


class _NoCredential:
    """The root client never calls Persona itself: each call binds the caller's credential."""

    async def bearer_token(self) -> str:
        raise RuntimeError("no credential bound: Persona calls go through a per-call bound client")

    async def on_unauthorized(self, rejected_token: str) -> bool:
        return False
