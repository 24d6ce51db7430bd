"""Events: Persona's record of what happened (the same objects webhooks deliver).

Covers the 2 tier-1 `events.*` operations under `events:read`. An event's payload is the object as it
was, personal data included, so it is marked PII.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from persona_mcp.persona.ids import ObjectKind
from persona_mcp.pii import PII
from persona_mcp.tools.family import Family
from persona_mcp.tools.inputs import AnyObjectId, PageInput
from persona_mcp.tools.results import ObjectView, Response
from persona_mcp.tools.spec import ToolSpec
from persona_mcp.tools.webhooks import EventName


class Event(ObjectView):
    """An event as listed."""

    name: str | None = Field(None, description="Event name, e.g. inquiry.approved.")
    created_at: str | None = Field(None, description="ISO 8601.")


class EventResult(Event, Response):
    """One event with its payload."""

    payload: Annotated[dict[str, Any] | None, PII] = Field(None, description="The object as it was.")


class ListEvents(PageInput):
    query_filters = {"name": "filter[name]", "object_id": "filter[object-id]"}

    name: EventName | None = Field(None, description="Only events of this name.")
    object_id: AnyObjectId | None = Field(None, description="Only events about this object.")


EVENTS = Family(toolset="events", kind=ObjectKind.EVENT, changed=EventResult)

list_events = EVENTS.list(
    """List events, newest first.
    Use this when you need an object's history.
    Do not use it for current state: use a get_ tool.""",
    input_model=ListEvents,
    view=Event,
)

get_event = EVENTS.get(
    """Read one event with its payload.
    Use this when you need its payload.""",
    result=EventResult,
)

TOOLS: tuple[ToolSpec[Any, Any], ...] = (list_events, get_event)
