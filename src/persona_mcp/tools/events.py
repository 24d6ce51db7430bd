"""Events: Persona's record of what happened (the same objects webhooks deliver).

Covers the 2 tier-1 `events.*` operations under `events:read`. An event's payload is the object as it
was, personal data included, so it is marked PII. Persona keeps events about three months; the events
this server's webhook receiver verified are kept longer (`persona_mcp.events`), so `list_events` reads
them with `source="local"` and `get_event` answers from them what Persona no longer has.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from persona_mcp.persona.envelope import Resource
from persona_mcp.persona.errors import NotFoundError
from persona_mcp.persona.ids import ObjectKind
from persona_mcp.pii import PII
from persona_mcp.tools.factories import CursorNotInListingError, Method, object_handler, page_handler
from persona_mcp.tools.family import Family
from persona_mcp.tools.inputs import AnyObjectId, PageInput
from persona_mcp.tools.results import Instant, ObjectView, Page, Response, page_of
from persona_mcp.tools.spec import ToolContext, ToolSpec
from persona_mcp.tools.webhooks import EventName


class Event(ObjectView):
    """An event as listed."""

    name: str | None = Field(None, description="Event name, e.g. inquiry.approved.")
    created_at: Instant = None


class EventResult(Event, Response):
    """One event with its payload."""

    payload: Annotated[dict[str, Any] | None, PII] = Field(None, description="The object as it was.")


EventPage = page_of(Event)


class ListEvents(PageInput):
    query_filters = {"name": "filter[name]", "object_id": "filter[object-id]"}

    name: EventName | None = Field(None, description="Only events of this name.")
    object_id: AnyObjectId | None = Field(None, description="Only events about this object.")
    source: Literal["persona", "local"] = Field(
        "persona", description="local: events this server received, kept past Persona's 3 months."
    )


def _event_resource(stored: Any) -> Resource:
    """A stored event as Persona's resource: its payload when kept, else its id, name and time."""
    if isinstance(stored.payload, dict):
        return Resource.model_validate(stored.payload)
    return Resource(
        type="event",
        id=stored.event_id,
        attributes={"name": stored.name, "created-at": stored.created_at.isoformat()},
    )


def _local(ctx: ToolContext) -> Any:
    if ctx.events is None:
        raise RuntimeError("the event tools' local source needs the server's event store")
    return ctx.events


async def _list_events(ctx: ToolContext, args: ListEvents) -> Page:
    if args.source == "persona":
        return await _from_persona(ctx, args)
    try:
        page = await _local(ctx).page(
            object_id=args.object_id,
            names=[args.name] if args.name else [],
            limit=args.page_size,
            cursor=args.after,
        )
    except LookupError:  # the store's UnknownCursor: no stored event of that id
        raise CursorNotInListingError("no stored event follows the after cursor", status=200) from None
    ctx.touch(*(event.event_id for event in page.events))
    items = [Event.from_resource(_event_resource(event)) for event in page.events]
    return EventPage.model_validate({"items": items, "next_cursor": page.next_cursor})


async def _get_event(ctx: ToolContext, args: Any) -> EventResult:
    """Persona's copy; one it no longer keeps (past its retention) from the local store."""
    try:
        return await _from_persona_one(ctx, args)
    except NotFoundError:
        stored = await ctx.events.get(args.event_id) if ctx.events is not None else None
        if stored is None:
            raise
    ctx.touch(stored.event_id)
    return EventResult.from_resource(_event_resource(stored))


EVENTS = Family(toolset="events", kind=ObjectKind.EVENT)

_from_persona = page_handler(EVENTS.collection, EventPage, Event)
_from_persona_one = object_handler(Method.GET, EVENTS.path, EventResult)

list_events = EVENTS.read(
    "list_events",
    "List events",
    """List events, newest first.
    Use this when you need an object's history.
    Do not use it for current state: use a get_ tool.""",
    op="list",
    input_model=ListEvents,
    output_model=EventPage,
    handler=_list_events,
    finds=EVENTS.kind,
)

get_event = EVENTS.read(
    "get_event",
    "Get an event",
    """Read one event with its payload.
    Use this when you need its payload.""",
    op="retrieve",
    input_model=EVENTS.ref(),
    output_model=EventResult,
    handler=_get_event,
)

TOOLS: tuple[ToolSpec[Any, Any], ...] = EVENTS.declared()
