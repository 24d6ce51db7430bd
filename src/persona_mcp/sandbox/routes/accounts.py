"""`/accounts` routes (catalogue family `accounts`, 14 operations)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from persona_mcp.sandbox import search, tags
from persona_mcp.sandbox.clock import parse_iso
from persona_mcp.sandbox.domain import accounts as domain
from persona_mcp.sandbox.errors import ApiError
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
from persona_mcp.sandbox.pagination import page_request
from persona_mcp.sandbox.records import Record

_SEARCH_READERS: dict[str, search.Reader] = {
    "reference_id": lambda r: r.attributes["reference-id"],
    "created_at": lambda r: r.attributes["created-at"],
    "updated_at": lambda r: r.attributes["updated-at"],
    "type": lambda _r: domain.ACCOUNT_TYPE_ID,
    "tags": lambda r: r.attributes["tags"],
}


def _account(request: Request) -> Record:
    return state_of(request).get(request.path_params["account_id"], "account")


async def list_accounts(request: Request) -> Response:
    state = state_of(request)
    wanted = query_of(request).get("filter[reference-id]")
    references = set(wanted.split(",")) if wanted else None
    records = state.of_type(
        lambda r: r.type == "account" and (references is None or r.attributes["reference-id"] in references)
    )
    return respond(request, page_document(request, records))


async def create_account(request: Request) -> Response:
    state = state_of(request)
    body = await json_body(request)
    attributes, meta = attributes_of(body), meta_of(body)
    upsert_by = meta.get("upsert-by")
    if upsert_by == "reference-id" and attributes.get("reference-id"):
        existing = domain.find_by_reference(state, attributes["reference-id"])
        if existing is not None:
            return respond(request, single(domain.update_account(state, existing, attributes)), 200)
    return respond(request, single(domain.create_account(state, attributes)), 201)


async def retrieve_account(request: Request) -> Response:
    return respond(request, single(_account(request), request=request))


async def update_account(request: Request) -> Response:
    record = _account(request)
    attributes = attributes_of(await json_body(request))
    return respond(request, single(domain.update_account(state_of(request), record, attributes)))


async def redact_account(request: Request) -> Response:
    return respond(request, single(domain.redact_account(state_of(request), _account(request))))


async def search_accounts(request: Request) -> Response:
    state = state_of(request)
    body = await json_body(request)
    match = search.matcher(body.get("query"), _SEARCH_READERS)
    order = search.sorter(body.get("sort"), _SEARCH_READERS)
    records = order(state.of_type(lambda r: r.type == "account" and match(r)))
    body_page = body.get("page") if isinstance(body.get("page"), dict) else None
    page = page_request(query_of(request), body_page)
    keep = {"page[size]": str(page.size)}
    return respond(request, page_document(request, records, page=page, keep=keep))


def _tag_action(action: Any, event: str) -> Any:
    async def handler(request: Request) -> Response:
        state, record = state_of(request), _account(request)
        action(state, record, meta_of(await json_body(request)))
        state.emit(event, record)
        return respond(request, single(record))

    return handler


async def consolidate(request: Request) -> Response:
    state, record = state_of(request), _account(request)
    meta = meta_of(await json_body(request))
    return respond(request, single(domain.consolidate(state, record, meta.get("source-account-ids"))), 202)


async def list_relations(request: Request) -> Response:
    state, record = state_of(request), _account(request)
    query = query_of(request)
    key = query.get("filter[key]")
    start, end = (
        parse_iso(query[k]) if k in query else None
        for k in ("filter[created-at-start]", "filter[created-at-end]")
    )
    targets: list[Record] = []
    for relation in reversed(record.internal["relations"]):
        created = parse_iso(relation["created-at"])
        if key is not None and relation["key"] != key:
            continue
        if created is not None and ((start and created < start) or (end and created > end)):
            continue
        if relation["target"] in state.records:
            targets.append(state.records[relation["target"]])
    return respond(request, page_document(request, targets))


async def add_relation(request: Request) -> Response:
    state, record = state_of(request), _account(request)
    return respond(request, single(domain.add_relation(state, record, meta_of(await json_body(request)))))


async def remove_relation(request: Request) -> Response:
    state, record = state_of(request), _account(request)
    return respond(request, single(domain.remove_relation(state, record, meta_of(await json_body(request)))))


async def run_action(request: Request) -> Response:
    state, record = state_of(request), _account(request)
    body = await json_body(request)
    raw_data = body.get("data")
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    action_id = data.get("account-action-id") or data.get("account_action_id") or data.get("accountActionId")
    if not isinstance(action_id, str) or not action_id:
        raise ApiError(
            422, "Invalid attribute", "data.account-action-id is missing", pointer="/data/account-action-id"
        )
    return respond(request, single(record, {"workflow-run-id": state.ids.new("wfr")}))


_ID = "/accounts/{account_id}"
ROUTES = [
    Route("/accounts", list_accounts, methods=["GET"], name="accounts.list"),
    Route("/accounts", create_account, methods=["POST"], name="accounts.create"),
    Route("/accounts/search", search_accounts, methods=["POST"], name="accounts.search"),
    Route(_ID, retrieve_account, methods=["GET"], name="accounts.retrieve"),
    Route(_ID, update_account, methods=["PATCH"], name="accounts.update"),
    Route(_ID, redact_account, methods=["DELETE"], name="accounts.redact"),
    Route(
        f"{_ID}/add-tag",
        _tag_action(tags.add_tag, "account.tag-added"),
        methods=["POST"],
        name="accounts.add_tag",
    ),
    Route(
        f"{_ID}/remove-tag",
        _tag_action(tags.remove_tag, "account.tag-removed"),
        methods=["POST"],
        name="accounts.remove_tag",
    ),
    Route(
        f"{_ID}/set-tags",
        _tag_action(tags.set_tags, "account.updated-tags"),
        methods=["POST"],
        name="accounts.set_tags",
    ),
    Route(f"{_ID}/consolidate", consolidate, methods=["POST"], name="accounts.consolidate"),
    Route(f"{_ID}/relations", list_relations, methods=["GET"], name="accounts.list_relations"),
    Route(f"{_ID}/add-relation", add_relation, methods=["POST"], name="accounts.add_relation"),
    Route(f"{_ID}/remove-relation", remove_relation, methods=["POST"], name="accounts.remove_relation"),
    Route(f"{_ID}/run-action", run_action, methods=["POST"], name="accounts.run_action"),
]
