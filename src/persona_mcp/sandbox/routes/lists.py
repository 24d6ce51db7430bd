"""`/lists` and `/list/<type>` routes (catalogue family `lists`, 12 operations)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from persona_mcp.sandbox.domain import lists as domain
from persona_mcp.sandbox.http import (
    attributes_of,
    json_body,
    page_document,
    query_of,
    respond,
    single,
    state_of,
)
from persona_mcp.sandbox.records import Record


def _list(request: Request) -> Record:
    return state_of(request).get(request.path_params["list_id"], "list", type_prefix="list/")


async def list_lists(request: Request) -> Response:
    raw = query_of(request).get("filter[status]")
    statuses = {v for v in raw.split(",") if v} if raw else None
    records = state_of(request).of_type(
        lambda r: r.type.startswith("list/") and (statuses is None or r.attributes["status"] in statuses)
    )
    return respond(request, page_document(request, records))


async def retrieve_list(request: Request) -> Response:
    return respond(request, single(_list(request)))


async def archive_list(request: Request) -> Response:
    return respond(request, single(domain.archive(_list(request))))


def _creator(kind: str) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        attributes = attributes_of(await json_body(request))
        return respond(request, single(domain.create_list(state_of(request), kind, attributes)), 201)

    return handler


ROUTES = [
    Route("/lists", list_lists, methods=["GET"], name="lists.list"),
    Route("/lists/{list_id}", retrieve_list, methods=["GET"], name="lists.retrieve"),
    Route("/lists/{list_id}", archive_list, methods=["DELETE"], name="lists.archive"),
    *(
        Route(
            f"/list/{kind.plural}",
            _creator(kind.name),
            methods=["POST"],
            name=f"lists.create_{kind.snake}_list",
        )
        for kind in domain.ITEM_KINDS
        if kind.list_endpoint
    ),
]
