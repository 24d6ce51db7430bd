"""`/list-item/<type>` routes (catalogue family `list-items`, 33 operations: create/retrieve/archive x 11)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from persona_mcp.sandbox.domain import lists as domain
from persona_mcp.sandbox.http import attributes_of, json_body, respond, single, state_of
from persona_mcp.sandbox.records import Record


def _item(request: Request, kind: domain.ItemKind) -> Record:
    """The item, which must be of the path's type: a matching id under another type segment is a 404."""
    return state_of(request).get(request.path_params["item_id"], f"list-item/{kind.name}")


def _handlers(kind: domain.ItemKind) -> tuple[Callable[[Request], Any], ...]:
    async def create(request: Request) -> Response:
        attributes = attributes_of(await json_body(request))
        return respond(request, single(domain.create_item(state_of(request), kind, attributes)), 201)

    async def retrieve(request: Request) -> Response:
        return respond(request, single(_item(request, kind)))

    async def archive(request: Request) -> Response:
        return respond(request, single(domain.archive(_item(request, kind))))

    return create, retrieve, archive


def _routes() -> list[Route]:
    routes: list[Route] = []
    for kind in domain.ITEM_KINDS:
        create, retrieve, archive = _handlers(kind)
        base = f"/list-item/{kind.plural}"
        routes += [
            Route(base, create, methods=["POST"], name=f"list_items.create_{kind.snake}"),
            Route(f"{base}/{{item_id}}", retrieve, methods=["GET"], name=f"list_items.retrieve_{kind.snake}"),
            Route(
                f"{base}/{{item_id}}", archive, methods=["DELETE"], name=f"list_items.archive_{kind.snake}"
            ),
        ]
    return routes


ROUTES = _routes()
