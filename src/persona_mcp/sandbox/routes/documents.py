"""`/documents` and `/document/<type>` routes (catalogue family `documents`, 9 operations)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from persona_mcp.sandbox.domain import documents as domain
from persona_mcp.sandbox.errors import not_found
from persona_mcp.sandbox.http import attributes_of, json_body, respond, single, state_of
from persona_mcp.sandbox.records import Record

#: path segment -> JSON:API type
_TYPES = {"generics": domain.GENERIC, "government-ids": domain.GOVERNMENT_ID}


def _document(request: Request, type_: str | None) -> Record:
    document_id = request.path_params["document_id"]
    record = state_of(request).get(document_id, "document", type_prefix="document/")
    if type_ is not None and record.type != type_:
        raise not_found(type_, document_id)
    return record


async def retrieve_document(request: Request) -> Response:
    return respond(request, single(_document(request, None)))


def _retrieve(type_: str) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        return respond(request, single(_document(request, type_)))

    return handler


def _update(type_: str) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        attributes = attributes_of(await json_body(request))
        return respond(request, single(domain.update(_document(request, type_), attributes)))

    return handler


def _submit(type_: str) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        return respond(request, single(domain.submit(_document(request, type_))))

    return handler


async def create_generic(request: Request) -> Response:
    attributes = attributes_of(await json_body(request))
    return respond(request, single(domain.create_generic(state_of(request), attributes)), 201)


async def create_government_id(request: Request) -> Response:
    attributes = attributes_of(await json_body(request))
    return respond(request, single(domain.create_government_id(state_of(request), attributes)), 201)


_CREATE = {"generics": create_generic, "government-ids": create_government_id}
_OPERATION = {"generics": "generic", "government-ids": "government_id"}

ROUTES = [
    Route("/documents/{document_id}", retrieve_document, methods=["GET"], name="documents.retrieve"),
    *(
        route
        for segment, type_ in _TYPES.items()
        for route in (
            Route(
                f"/document/{segment}",
                _CREATE[segment],
                methods=["POST"],
                name=f"documents.create_{_OPERATION[segment]}",
            ),
            Route(
                f"/document/{segment}/{{document_id}}",
                _retrieve(type_),
                methods=["GET"],
                name=f"documents.retrieve_{_OPERATION[segment]}",
            ),
            Route(
                f"/document/{segment}/{{document_id}}",
                _update(type_),
                methods=["PATCH"],
                name=f"documents.update_{_OPERATION[segment]}",
            ),
            Route(
                f"/document/{segment}/{{document_id}}/submit",
                _submit(type_),
                methods=["POST"],
                name=f"documents.submit_{_OPERATION[segment]}",
            ),
        )
    ),
]
