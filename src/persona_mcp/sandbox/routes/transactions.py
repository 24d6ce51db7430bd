"""`/transactions` routes (catalogue family `transactions`, 12 operations)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from persona_mcp.sandbox.domain import transactions as domain
from persona_mcp.sandbox.http import (
    attributes_of,
    json_body,
    meta_of,
    page_document,
    query_of,
    respond,
    single,
    state_of,
)
from persona_mcp.sandbox.records import Record
from persona_mcp.sandbox.store import SandboxState


def _transaction(request: Request) -> Record:
    return state_of(request).get(request.path_params["transaction_id"], "transaction")


async def list_transactions(request: Request) -> Response:
    query = query_of(request)
    reference, type_id = query.get("filter[reference-id]"), query.get("filter[transaction-type-id]")
    records = state_of(request).of_type(
        lambda r: (
            r.type == "transaction"
            and (reference is None or r.attributes.get("reference-id") == reference)
            and (type_id is None or (r.relationships or {})["transaction-type"]["data"]["id"] == type_id)
        )
    )
    return respond(request, page_document(request, records))


async def create_transaction(request: Request) -> Response:
    attributes = attributes_of(await json_body(request))
    return respond(request, single(domain.create_transaction(state_of(request), attributes)), 201)


async def retrieve_transaction(request: Request) -> Response:
    return respond(request, single(_transaction(request), request=request))


async def update_transaction(request: Request) -> Response:
    attributes = attributes_of(await json_body(request))
    return respond(request, single(domain.update_transaction(_transaction(request), attributes)))


async def redact_transaction(request: Request) -> Response:
    return respond(request, single(domain.redact(_transaction(request))))


async def redact_biometrics(request: Request) -> Response:
    return respond(request, single(domain.redact_biometrics(_transaction(request))))


MetaAction = Callable[[SandboxState, Record, dict[str, Any]], Record]


def _meta_action(action: MetaAction) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        meta = meta_of(await json_body(request))
        return respond(request, single(action(state_of(request), _transaction(request), meta)))

    return handler


_ONE = "/transactions/{transaction_id}"

ROUTES = [
    Route("/transactions", list_transactions, methods=["GET"], name="transactions.list"),
    Route("/transactions", create_transaction, methods=["POST"], name="transactions.create"),
    Route(_ONE, retrieve_transaction, methods=["GET"], name="transactions.retrieve"),
    Route(_ONE, update_transaction, methods=["PATCH"], name="transactions.update"),
    Route(_ONE, redact_transaction, methods=["DELETE"], name="transactions.redact"),
    Route(
        _ONE + "/redact-biometrics",
        redact_biometrics,
        methods=["POST"],
        name="transactions.redact_biometrics",
    ),
    Route(_ONE + "/label", _meta_action(domain.label), methods=["POST"], name="transactions.create_label"),
    Route(_ONE + "/add-tag", _meta_action(domain.add_tag), methods=["POST"], name="transactions.add_tag"),
    Route(
        _ONE + "/remove-tag",
        _meta_action(domain.remove_tag),
        methods=["POST"],
        name="transactions.remove_tag",
    ),
    Route(_ONE + "/set-tags", _meta_action(domain.set_tags), methods=["POST"], name="transactions.set_tags"),
    Route(
        _ONE + "/add-relation",
        _meta_action(domain.add_relation),
        methods=["POST"],
        name="transactions.add_relation",
    ),
    Route(
        _ONE + "/remove-relation",
        _meta_action(domain.remove_relation),
        methods=["POST"],
        name="transactions.remove_relation",
    ),
]
