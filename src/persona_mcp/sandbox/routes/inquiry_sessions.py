"""`/inquiry-sessions` routes (catalogue family `inquiry-sessions`, 6 operations)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from persona_mcp.sandbox.domain import sessions as domain
from persona_mcp.sandbox.errors import ApiError, conflict
from persona_mcp.sandbox.http import (
    attributes_of,
    json_body,
    meta_of,
    page_document,
    query_of,
    require_string,
    respond,
    single,
    state_of,
)
from persona_mcp.sandbox.records import Record


def _session(request: Request) -> Record:
    return state_of(request).get(request.path_params["session_id"], "inquiry-session")


async def list_sessions(request: Request) -> Response:
    raw = query_of(request).get("filter[inquiry-id]")
    inquiry_ids = {v for v in raw.split(",") if v} if raw else None
    records = state_of(request).of_type(
        lambda r: (
            r.type == "inquiry-session" and (inquiry_ids is None or r.internal["inquiry-id"] in inquiry_ids)
        )
    )
    return respond(request, page_document(request, records))


async def create_session(request: Request) -> Response:
    state = state_of(request)
    inquiry_id = require_string(attributes_of(await json_body(request)), "inquiry-id")
    session = domain.create_session(state, state.get(inquiry_id, "inquiry"))
    return respond(request, single(session), 201)


async def retrieve_session(request: Request) -> Response:
    return respond(request, single(_session(request), request=request))


async def expire_session(request: Request) -> Response:
    return respond(request, single(domain.expire_session(state_of(request), _session(request))))


async def expire_all(request: Request) -> Response:
    state = state_of(request)
    inquiry_ids: Any = meta_of(await json_body(request)).get("inquiry-ids")
    if (
        not isinstance(inquiry_ids, list)
        or not inquiry_ids
        or not all(isinstance(i, str) for i in inquiry_ids)
    ):
        raise ApiError(
            422,
            "Invalid attribute",
            "meta.inquiry-ids must be a non-empty array",
            pointer="/meta/inquiry-ids",
        )
    inquiries = [state.get(inquiry_id, "inquiry") for inquiry_id in inquiry_ids]
    expired = [session for inquiry in inquiries for session in domain.expire_open_sessions(state, inquiry.id)]
    return respond(request, {"data": [s.resource() for s in expired]})


async def generate_one_time_link(request: Request) -> Response:
    state, session = state_of(request), _session(request)
    if session.attributes["status"] == "expired":
        raise conflict(f"Inquiry session {session.id} is expired")
    return respond(request, single(session, domain.one_time_link(state)))


_ID = "/inquiry-sessions/{session_id}"
ROUTES = [
    Route("/inquiry-sessions", list_sessions, methods=["GET"], name="inquiry_sessions.list"),
    Route("/inquiry-sessions", create_session, methods=["POST"], name="inquiry_sessions.create"),
    Route("/inquiry-sessions/expire-all", expire_all, methods=["POST"], name="inquiry_sessions.expire_all"),
    Route(_ID, retrieve_session, methods=["GET"], name="inquiry_sessions.retrieve"),
    Route(f"{_ID}/expire", expire_session, methods=["POST"], name="inquiry_sessions.expire"),
    Route(
        f"{_ID}/generate-one-time-link",
        generate_one_time_link,
        methods=["POST"],
        name="inquiry_sessions.generate_one_time_link",
    ),
]
