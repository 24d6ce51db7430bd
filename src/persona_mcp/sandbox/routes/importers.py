"""`/importers` and `/importer/...` routes (catalogue family `importers`, 10 operations)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from persona_mcp.sandbox.domain import importers as domain
from persona_mcp.sandbox.http import attributes_of, json_body, page_document, respond, single, state_of

#: list-item kind -> (path segment, catalogue operation id)
LIST_IMPORTS = {
    "email-address": ("email-addresses", "importers.import_email_addresses"),
    "geolocation": ("geolocations", "importers.import_geolocations"),
    "government-id-number": ("government-id-numbers", "importers.import_government_id_numbers"),
    "ip-address": ("ip-addresses", "importers.import_ip_addresses"),
    "name": ("names", "importers.import_names"),
    "phone-number": ("phone-numbers", "importers.import_phone_numbers"),
}


async def list_importers(request: Request) -> Response:
    records = state_of(request).of_type(lambda r: r.type.startswith("importer/"))
    return respond(request, page_document(request, records))


async def retrieve_importer(request: Request) -> Response:
    record = state_of(request).get(request.path_params["importer_id"], "importer", type_prefix="importer/")
    return respond(request, single(record))


def _list_import(kind: str, operation: str) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        attributes = attributes_of(await json_body(request))
        record = domain.import_list_items(state_of(request), kind, attributes, operation)
        return respond(request, single(record), 201)

    return handler


async def import_accounts(request: Request) -> Response:
    attributes = attributes_of(await json_body(request))
    return respond(request, single(domain.import_accounts(state_of(request), attributes)), 201)


async def import_faces(request: Request) -> Response:
    attributes = attributes_of(await json_body(request))
    return respond(request, single(domain.import_faces(state_of(request), attributes)), 201)


ROUTES = [
    Route("/importers", list_importers, methods=["GET"], name="importers.list"),
    Route("/importers/{importer_id}", retrieve_importer, methods=["GET"], name="importers.retrieve"),
    Route("/importer/accounts", import_accounts, methods=["POST"], name="importers.import_accounts"),
    Route("/importer/list-item/faces", import_faces, methods=["POST"], name="importers.import_faces"),
    *(
        Route(
            f"/importer/list-item/{segment}", _list_import(kind, operation), methods=["POST"], name=operation
        )
        for kind, (segment, operation) in LIST_IMPORTS.items()
    ),
]
