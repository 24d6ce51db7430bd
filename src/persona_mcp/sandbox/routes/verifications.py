"""`/verifications` and the typed `/verification/<type>s` routes (catalogue family `verifications`, 22)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from persona_mcp.sandbox.domain import verifications as domain
from persona_mcp.sandbox.http import attributes_of, json_body, respond, single, state_of
from persona_mcp.sandbox.pdf import inquiry_pdf
from persona_mcp.sandbox.records import Record


def _verification(request: Request) -> Record:
    return domain.get_verification(state_of(request), request.path_params["verification_id"])


def _typed(type_: str) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        record = domain.get_verification(state_of(request), request.path_params["verification_id"], type_)
        return respond(request, single(record, request=request))

    return handler


async def retrieve(request: Request) -> Response:
    return respond(request, single(_verification(request), request=request))


async def redact(request: Request) -> Response:
    return respond(request, single(domain.redact(state_of(request), _verification(request))))


async def print_pdf(request: Request) -> Response:
    record = _verification(request)
    return Response(inquiry_pdf(record.id, record.attributes["status"]), media_type="application/pdf")


def _lock(locked: bool) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        record = domain.set_lock(state_of(request), _verification(request), locked)
        return respond(request, single(record, request=request))

    return handler


def _business(request: Request) -> Record:
    return domain.get_verification(
        state_of(request), request.path_params["verification_id"], domain.DATABASE_BUSINESS
    )


async def create_database_business(request: Request) -> Response:
    attributes = attributes_of(await json_body(request))
    return respond(request, single(domain.create_database_business(state_of(request), attributes)), 201)


async def update_database_business(request: Request) -> Response:
    record = _business(request)
    attributes = attributes_of(await json_body(request))
    return respond(request, single(domain.update_database_business(state_of(request), record, attributes)))


async def submit_database_business(request: Request) -> Response:
    return respond(request, single(domain.submit_database_business(state_of(request), _business(request))))


def _operation(segment: str) -> str:
    return "verifications.retrieve_" + segment.removesuffix(
        "es" if segment.endswith("sses") else "s"
    ).replace("-", "_")


_ID = "/verifications/{verification_id}"
_BUSINESS = "/verification/database-businesses"
ROUTES = [
    Route(_ID, retrieve, methods=["GET"], name="verifications.retrieve"),
    Route(_ID, redact, methods=["DELETE"], name="verifications.redact"),
    Route(f"{_ID}/print", print_pdf, methods=["GET"], name="verifications.print_pdf"),
    Route(
        f"{_ID}/investigation-lock", _lock(True), methods=["POST"], name="verifications.investigation_lock"
    ),
    Route(
        f"{_ID}/investigation-unlock",
        _lock(False),
        methods=["POST"],
        name="verifications.investigation_unlock",
    ),
    *(
        Route(
            f"/verification/{segment}/{{verification_id}}",
            _typed(type_),
            methods=["GET"],
            name=_operation(segment),
        )
        for segment, type_ in domain.TYPE_OF_SEGMENT.items()
    ),
    Route(
        _BUSINESS, create_database_business, methods=["POST"], name="verifications.create_database_business"
    ),
    Route(
        _BUSINESS + "/{verification_id}",
        update_database_business,
        methods=["PATCH"],
        name="verifications.update_database_business",
    ),
    Route(
        _BUSINESS + "/{verification_id}/submit",
        submit_database_business,
        methods=["POST"],
        name="verifications.submit_database_business",
    ),
]
