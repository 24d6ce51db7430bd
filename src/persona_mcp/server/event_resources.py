"""An object's events as an MCP resource, with subscriptions: `persona://inquiries/{id}/events`.

`resources/read` answers the events the local store holds about the object (received by the webhook
receiver, kept past Persona's retention), newest `created-at` first, read under the same rule as the
`list_events` tool: its scope (`events:read`), a live grant in the object's environment, and personal
data masked unless the grant carries `pii:read`. Every read ends in an audit record first.

A client subscribes to such a URI (`resources/subscribe` on handshake-era connections, or
`subscriptions/listen` with `resource_subscriptions` on 2026-07-28 ones) and is sent
`notifications/resources/updated` when a verified event about that object arrives, on whichever replica
received it. The notification carries only the URI; the client reads it to see what changed. A
subscription is authorised like a read, and refused (and recorded) the same way.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import anyio
import mcp_types as types
import structlog
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ResourceUpdated
from pydantic import BaseModel, Field

from persona_mcp.auth.callers import Caller, TokenRefusal
from persona_mcp.auth.policy import decide
from persona_mcp.auth.scopes import Scope
from persona_mcp.events.hub import EventHub
from persona_mcp.events.store import EventNotice, EventStore, StoredEvent
from persona_mcp.persona.ids import ObjectKind, kind_of_prefix
from persona_mcp.pii import PII, mask
from persona_mcp.server import errors
from persona_mcp.server.session_info import SessionInfo, bounded

if TYPE_CHECKING:
    from persona_mcp.server.pipeline import AnySpec, CallPipeline

_log = structlog.get_logger("persona_mcp.events")

EVENTS_SCHEME = "persona://"
READ = "resources/read"
SUBSCRIBE = "resources/subscribe"
#: The tool whose grant rule a read or a subscription follows.
GOVERNING_TOOL = "list_events"
#: Events shown per read (newest first); older ones are reachable with list_events.
EVENTS_PER_READ = 50

#: The URI family of each kind of object; any other object is under `objects`.
FAMILIES: dict[ObjectKind, str] = {
    ObjectKind.INQUIRY: "inquiries",
    ObjectKind.ACCOUNT: "accounts",
    ObjectKind.INQUIRY_SESSION: "inquiry-sessions",
    ObjectKind.LIST: "lists",
    ObjectKind.LIST_ITEM: "list-items",
    ObjectKind.WEBHOOK: "webhooks",
    ObjectKind.VERIFICATION: "verifications",
    ObjectKind.TRANSACTION: "transactions",
}
_URI = re.compile(r"^persona://([a-z-]{1,32})/([A-Za-z0-9]{1,16}_[A-Za-z0-9]{1,64})/events$")


def events_uri(object_id: str) -> str:
    kind = kind_of_prefix(object_id)
    family = FAMILIES.get(kind, "objects") if kind is not None else "objects"
    return f"persona://{family}/{object_id}/events"


def object_of(uri: str) -> str | None:
    """The object id an events URI names, or None for anything else (or a family that does not fit)."""
    match = _URI.match(uri)
    if match is None or events_uri(match.group(2)) != uri:
        return None
    return match.group(2)


TEMPLATES = [
    types.ResourceTemplate(
        uri_template="persona://inquiries/{inquiry_id}/events",
        name="inquiry-events",
        title="An inquiry's events",
        description="Webhook events received about one inquiry, newest first; subscribe to hear of new ones.",
        mime_type="application/json",
    ),
    types.ResourceTemplate(
        uri_template="persona://accounts/{account_id}/events",
        name="account-events",
        title="An account's events",
        description="Webhook events received about one account, newest first; subscribe to hear of new ones.",
        mime_type="application/json",
    ),
    types.ResourceTemplate(
        uri_template="persona://objects/{object_id}/events",
        name="object-events",
        title="Another object's events",
        description="Webhook events about any other Persona object (lists, list items, verifications...).",
        mime_type="application/json",
    ),
]


class StoredEventView(BaseModel):
    id: str
    name: str
    created_at: str
    received_at: str
    payload: Annotated[dict[str, Any] | None, PII] = Field(None)


class ObjectEvents(BaseModel):
    object_id: str
    events: list[StoredEventView]


def _view(event: StoredEvent) -> StoredEventView:
    return StoredEventView(
        id=event.event_id,
        name=event.name,
        created_at=event.created_at.isoformat(),
        received_at=event.received_at.isoformat(),
        payload=event.payload,
    )


class _Subscriber:
    """A handshake-era session's subscriptions, in the environment of the grant that made them."""

    def __init__(self, session: Any, environment: str) -> None:
        self.session = session
        self.environment = environment
        self.uris: set[str] = set()


class EventResources:
    """Reads, subscriptions and the pump that turns event notices into `notifications/resources/updated`."""

    def __init__(
        self,
        store: EventStore,
        hub: EventHub,
        pipeline: CallPipeline,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._hub = hub
        self._pipeline = pipeline
        self._clock = clock
        self._spec: AnySpec | None = next((s for s in pipeline.exposed if s.name == GOVERNING_TOOL), None)
        self._subscribers: dict[int, _Subscriber] = {}
        self._buses = {env: InMemorySubscriptionBus() for env in ("sandbox", "production")}
        self._listeners = {env: ListenHandler(bus) for env, bus in self._buses.items()}
        self._send, self._receive = anyio.create_memory_object_stream[EventNotice](10_000)

    def visible_to(self, caller: Caller) -> bool:
        """Whether the caller's grant may read event resources (what the templates listing shows)."""
        spec = self._spec
        return (
            spec is not None
            and decide(caller.grant, spec, now=self._clock(), jwt_scopes=caller.jwt_scopes).allowed
        )

    # -- authorisation and records -------------------------------------------------------------------

    async def _authorise(
        self,
        caller: Caller | None,
        method: str,
        uris: Sequence[str],
        session: SessionInfo,
        refusal: TokenRefusal | None,
        started: float,
    ) -> list[str]:
        """The object ids of `uris` once the caller may read them; records and raises otherwise."""
        if caller is None:
            await self._pipeline.record_unauthenticated(
                refusal or TokenRefusal("no credentials"), method, session
            )
            raise errors.unauthenticated()
        objects = [object_of(uri) for uri in uris]
        details: dict[str, Any] = {"uris": [bounded(uri) for uri in uris[:20]]}
        spec = self._spec

        async def deny(reason: str) -> None:
            await self._pipeline.record_access(
                caller,
                session,
                kind="call.denied",
                tool=method,
                scope=Scope.EVENTS_READ,
                object_ids=[o for o in objects if o][:20],
                details=details,
                started=started,
                decision="denied",
                reason=reason,
            )

        if spec is None or any(o is None for o in objects):
            await deny("unknown resource" if spec is not None else f"tool not exposed: {GOVERNING_TOOL}")
            raise errors.Refusal(
                types.INVALID_PARAMS,
                "Unknown resource. Event resources are persona://inquiries/{id}/events, "
                "persona://accounts/{id}/events and persona://objects/{id}/events.",
                {"uri": details["uris"][0] if details["uris"] else None},
            )
        decision = decide(caller.grant, spec, now=self._clock(), jwt_scopes=caller.jwt_scopes)
        if not decision.allowed:
            await deny(decision.reason)
            if decision.missing_scope is not None:
                raise errors.missing_scope(method, decision.missing_scope.value, decision.reason)
            raise errors.refused(method, decision.reason)
        retry_after = self._pipeline.rate_limiter.check(caller.grant)
        if retry_after is not None:
            await deny("rate limited")
            raise errors.rate_limited(retry_after)
        return [o for o in objects if o is not None]

    async def read(
        self, caller: Caller | None, uri: str, session: SessionInfo, *, refusal: TokenRefusal | None = None
    ) -> types.ReadResourceResult:
        started = time.perf_counter()
        (object_id,) = await self._authorise(caller, READ, [uri], session, refusal, started)
        assert caller is not None
        page = await self._store.page(
            environment=caller.environment.value, object_id=object_id, limit=EVENTS_PER_READ
        )
        await self._pipeline.record_access(
            caller,
            session,
            kind="call.outcome",
            tool=READ,
            scope=Scope.EVENTS_READ,
            object_ids=[object_id],
            details={"uri": uri, "events": len(page.events)},
            started=started,
            decision="allowed",
            outcome="ok",
        )
        data = ObjectEvents(object_id=object_id, events=[_view(e) for e in page.events]).model_dump(
            mode="json"
        )
        if Scope.PII_READ not in caller.effective_scopes:
            data, _ = mask(ObjectEvents, data)
        return types.ReadResourceResult(
            contents=[
                types.TextResourceContents(
                    uri=uri, mime_type="application/json", text=json.dumps(data, separators=(",", ":"))
                )
            ]
        )

    # -- subscriptions -------------------------------------------------------------------------------

    async def subscribe(
        self,
        caller: Caller | None,
        ctx: Any,
        uri: str,
        session: SessionInfo,
        *,
        refusal: TokenRefusal | None = None,
    ) -> None:
        started = time.perf_counter()
        (object_id,) = await self._authorise(caller, SUBSCRIBE, [uri], session, refusal, started)
        assert caller is not None
        await self._pipeline.record_access(
            caller,
            session,
            kind="call.outcome",
            tool=SUBSCRIBE,
            scope=Scope.EVENTS_READ,
            object_ids=[object_id],
            details={"uri": uri},
            started=started,
            decision="allowed",
            outcome="ok",
        )
        subscriber = self._subscribers.setdefault(
            id(ctx.session), _Subscriber(ctx.session, caller.environment.value)
        )
        subscriber.environment = caller.environment.value
        subscriber.uris.add(uri)

    def unsubscribe(self, ctx: Any, uri: str) -> None:
        subscriber = self._subscribers.get(id(ctx.session))
        if subscriber is not None:
            subscriber.uris.discard(uri)
            if not subscriber.uris:
                self._subscribers.pop(id(ctx.session), None)

    async def listen(
        self,
        caller: Caller | None,
        ctx: Any,
        params: types.SubscriptionsListenRequestParams,
        session: SessionInfo,
        *,
        refusal: TokenRefusal | None = None,
    ) -> types.SubscriptionsListenResult:
        """`subscriptions/listen` (2026-07-28): resource subscriptions authorised, then the SDK's handler
        on the bus of the caller's environment."""
        started = time.perf_counter()
        uris = list(params.notifications.resource_subscriptions or [])
        if uris:
            objects = await self._authorise(caller, "subscriptions/listen", uris, session, refusal, started)
            assert caller is not None
            await self._pipeline.record_access(
                caller,
                session,
                kind="call.outcome",
                tool="subscriptions/listen",
                scope=Scope.EVENTS_READ,
                object_ids=objects[:20],
                details={"uris": uris[:20]},
                started=started,
                decision="allowed",
                outcome="ok",
            )
        elif caller is None:
            await self._pipeline.record_unauthenticated(
                refusal or TokenRefusal("no credentials"), "subscriptions/listen", session
            )
            raise errors.unauthenticated()
        return await self._listeners[caller.environment.value](ctx, params)

    # -- the pump ------------------------------------------------------------------------------------

    def _on_notice(self, notice: EventNotice) -> None:
        if notice.object_id is None:
            return
        try:
            self._send.send_nowait(notice)
        except anyio.WouldBlock:
            _log.warning("events.notification_dropped", event_id=notice.event_id)

    async def run(self) -> None:
        """Forward notices to subscribed sessions and listen streams until cancelled."""
        unsubscribe = self._hub.subscribe(self._on_notice)
        try:
            async for notice in self._receive:
                assert notice.object_id is not None
                uri = events_uri(notice.object_id)
                bus = self._buses.get(notice.environment)
                if bus is not None:
                    await bus.publish(ResourceUpdated(uri=uri))
                for key, subscriber in list(self._subscribers.items()):
                    if uri not in subscriber.uris or subscriber.environment != notice.environment:
                        continue
                    try:
                        with anyio.fail_after(5):
                            await subscriber.session.send_resource_updated(uri)
                    except Exception as exc:  # a closed session: forget it
                        _log.info("events.subscriber_gone", error_type=type(exc).__name__)
                        self._subscribers.pop(key, None)
        finally:
            unsubscribe()
            for handler in self._listeners.values():
                handler.close()
