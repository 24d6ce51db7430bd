"""The events component as the server opens it: endpoints, store, hub and receiver over one database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import anyio

from persona_mcp.audit import AuditLog
from persona_mcp.auth.credentials.secretbox import load_secret_box
from persona_mcp.config import Settings
from persona_mcp.events.endpoints import EndpointStore
from persona_mcp.events.hub import EventHub
from persona_mcp.events.receiver import ReceiverLimits, WebhookReceiver
from persona_mcp.events.store import EnvironmentEvents, EventStore
from persona_mcp.store import Store


@dataclass(slots=True)
class Events:
    endpoints: EndpointStore
    store: EventStore
    hub: EventHub
    receiver: WebhookReceiver

    def for_environment(self, environment: str) -> EnvironmentEvents:
        """What a tool call in `environment` is handed (`ToolContext.events`)."""
        return EnvironmentEvents(self.store, environment, self.hub)


@asynccontextmanager
async def open_events(store: Store, settings: Settings, audit: AuditLog) -> AsyncIterator[Events]:
    """The component, with the hub polling (and purging past retention) until the block exits."""
    box = load_secret_box(settings.secret_key, settings.data_dir)
    config = settings.events
    endpoints = EndpointStore(store, box, events=audit)
    events = EventStore(store, box, payloads=config.payload_storage)
    hub = EventHub(
        events, poll_seconds=config.notify_poll_seconds, retention=timedelta(days=config.retention_days)
    )
    receiver = WebhookReceiver(
        endpoints=endpoints,
        store=events,
        hub=hub,
        audit=audit,
        limits=ReceiverLimits(
            tolerance_seconds=config.signature_tolerance_seconds, max_body_bytes=config.max_body_bytes
        ),
    )
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(hub.run)
        try:
            yield Events(endpoints=endpoints, store=events, hub=hub, receiver=receiver)
        finally:
            tasks.cancel_scope.cancel()
