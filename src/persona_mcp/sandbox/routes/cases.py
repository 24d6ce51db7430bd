"""`/cases` routes (catalogue family `cases`, 13 operations)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from persona_mcp.sandbox import search, tags
from persona_mcp.sandbox.domain import cases as domain
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
from persona_mcp.sandbox.store import SandboxState


def _case(request: Request) -> Record:
    return state_of(request).get(request.path_params["case_id"], "case")


def _related(record: Record, name: str) -> set[str]:
    assert record.relationships is not None
    linkage = record.relationships[name]["data"]
    return {item["id"] for item in (linkage if isinstance(linkage, list) else [linkage] if linkage else [])}


def _references(state: SandboxState, record: Record) -> set[str]:
    accounts = (state.records.get(i) for i in _related(record, "accounts"))
    return {str(a.attributes["reference-id"]) for a in accounts if a and a.attributes.get("reference-id")}


_SEARCH_READERS: dict[str, search.Reader] = {
    "status": lambda r: r.attributes["status"],
    "name": lambda r: r.attributes["name"],
    "created_at": lambda r: r.attributes["created-at"],
    "updated_at": lambda r: r.attributes["updated-at"],
    "assignee_id": lambda r: r.attributes["assignee-id"],
    "template": lambda r: next(iter(_related(r, "case-template")), None),
    "case_template_id": lambda r: next(iter(_related(r, "case-template")), None),
}


def _filter(state: SandboxState, query: dict[str, str]) -> Callable[[Record], bool]:
    wanted = {
        name: set(query[f"filter[{name}]"].split(","))
        for name in ("status", "case-template-id", "account-id", "reference-id", "inquiry-id", "report-id")
        if f"filter[{name}]" in query
    }
    readers: dict[str, Callable[[Record], set[str]]] = {
        "status": lambda r: {r.attributes["status"]},
        "case-template-id": lambda r: _related(r, "case-template"),
        "account-id": lambda r: _related(r, "accounts"),
        "reference-id": lambda r: _references(state, r),
        "inquiry-id": lambda r: _related(r, "inquiries"),
        "report-id": lambda r: _related(r, "reports"),
    }
    return lambda r: r.type == "case" and all(readers[n](r) & values for n, values in wanted.items())


async def list_cases(request: Request) -> Response:
    state = state_of(request)
    return respond(request, page_document(request, state.of_type(_filter(state, query_of(request)))))


async def search_cases(request: Request) -> Response:
    body = await json_body(request)
    match = search.matcher(body.get("query"), _SEARCH_READERS)
    order = search.sorter(body.get("sort"), _SEARCH_READERS)
    records = order(state_of(request).of_type(lambda r: r.type == "case" and match(r)))
    body_page = body.get("page") if isinstance(body.get("page"), dict) else None
    page = page_request(query_of(request), body_page)
    return respond(request, page_document(request, records, page=page, keep={"page[size]": str(page.size)}))


async def create_case(request: Request) -> Response:
    body = await json_body(request)
    record = domain.create_case(state_of(request), attributes_of(body), meta_of(body))
    return respond(request, single(record), 201)


async def retrieve_case(request: Request) -> Response:
    return respond(request, single(_case(request), request=request))


async def update_case(request: Request) -> Response:
    record = _case(request)
    body = await json_body(request)
    return respond(
        request, single(domain.update_case(state_of(request), record, attributes_of(body), meta_of(body)))
    )


async def redact_case(request: Request) -> Response:
    return respond(request, single(domain.redact_case(state_of(request), _case(request))))


def _meta_action(
    action: Callable[[SandboxState, Record, dict[str, Any]], Record],
) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        record = _case(request)
        return respond(request, single(action(state_of(request), record, meta_of(await json_body(request)))))

    return handler


def _tag_action(action: Any) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        state, record = state_of(request), _case(request)
        action(state, record, meta_of(await json_body(request)))
        state.emit("case.updated-tags", record)
        return respond(request, single(record))

    return handler


_ID = "/cases/{case_id}"
ROUTES = [
    Route("/cases", list_cases, methods=["GET"], name="cases.list"),
    Route("/cases", create_case, methods=["POST"], name="cases.create"),
    Route("/cases/search", search_cases, methods=["POST"], name="cases.search"),
    Route(_ID, retrieve_case, methods=["GET"], name="cases.retrieve"),
    Route(_ID, update_case, methods=["PATCH"], name="cases.update"),
    Route(_ID, redact_case, methods=["DELETE"], name="cases.redact"),
    Route(f"{_ID}/add-objects", _meta_action(domain.add_objects), methods=["POST"], name="cases.add_objects"),
    Route(
        f"{_ID}/remove-objects",
        _meta_action(domain.remove_objects),
        methods=["POST"],
        name="cases.remove_objects",
    ),
    Route(f"{_ID}/assign", _meta_action(domain.assign), methods=["POST"], name="cases.assign"),
    Route(f"{_ID}/set-status", _meta_action(domain.set_status), methods=["POST"], name="cases.set_status"),
    Route(f"{_ID}/add-tag", _tag_action(tags.add_tag), methods=["POST"], name="cases.add_tag"),
    Route(f"{_ID}/remove-tag", _tag_action(tags.remove_tag), methods=["POST"], name="cases.remove_tag"),
    Route(f"{_ID}/set-tags", _tag_action(tags.set_tags), methods=["POST"], name="cases.set_tags"),
]
