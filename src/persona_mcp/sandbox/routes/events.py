"""`/events` routes (catalogue family `events`): the record of every state change, newest first."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from persona_mcp.sandbox.http import page_document, query_of, respond, single, state_of


def _values(raw: str | None) -> set[str] | None:
    return {v for v in raw.split(",") if v} if raw else None


async def list_events(request: Request) -> Response:
    query = query_of(request)
    names, object_ids, ids = (_values(query.get(f"filter[{k}]")) for k in ("name", "object-id", "id"))
    records = state_of(request).of_type(
        lambda r: (
            r.type == "event"
            and (names is None or r.attributes["name"] in names)
            and (object_ids is None or r.internal["object-id"] in object_ids)
            and (ids is None or r.id in ids)
        )
    )
    return respond(request, page_document(request, records))


async def retrieve_event(request: Request) -> Response:
    return respond(request, single(state_of(request).get(request.path_params["event_id"], "event")))


ROUTES = [
    Route("/events", list_events, methods=["GET"], name="events.list"),
    Route("/events/{event_id}", retrieve_event, methods=["GET"], name="events.retrieve"),
]
