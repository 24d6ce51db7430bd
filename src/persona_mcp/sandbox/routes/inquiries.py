"""`/inquiries` routes (catalogue family `inquiries`, 18 operations)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from persona_mcp.sandbox import search, tags
from persona_mcp.sandbox.clock import parse_iso
from persona_mcp.sandbox.domain import inquiries as domain
from persona_mcp.sandbox.domain import simulation
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
from persona_mcp.sandbox.pdf import inquiry_pdf
from persona_mcp.sandbox.records import Record


def _template_id(record: Record) -> str:
    assert record.relationships is not None
    template_id: str = record.relationships["inquiry-template"]["data"]["id"]
    return template_id


_SEARCH_READERS: dict[str, search.Reader] = {
    "status": lambda r: r.attributes["status"],
    "created_at": lambda r: r.attributes["created-at"],
    "updated_at": lambda r: r.attributes["updated-at"],
    "reference_id": lambda r: r.attributes["reference-id"],
    "inquiry_template_id": _template_id,
    "account_id": lambda r: r.internal.get("account-id"),
}


def _inquiry(request: Request) -> Record:
    return state_of(request).get(request.path_params["inquiry_id"], "inquiry")


def _filter(query: dict[str, str]) -> Callable[[Record], bool]:
    def values(name: str) -> set[str] | None:
        raw = query.get(f"filter[{name}]")
        return {v for v in raw.split(",") if v} if raw else None

    ids, accounts, references, statuses = (
        values("inquiry-id"),
        values("account-id"),
        values("reference-id"),
        values("status"),
    )
    templates = (values("inquiry-template-id") or set()) | (values("template-id") or set()) or None
    note = query.get("filter[note]")
    start, end = (
        parse_iso(query[k]) if k in query else None
        for k in ("filter[created-at-start]", "filter[created-at-end]")
    )

    def keep(r: Record) -> bool:
        if r.type != "inquiry":
            return False
        created = parse_iso(r.attributes["created-at"])
        return (
            (ids is None or r.id in ids)
            and (accounts is None or r.internal.get("account-id") in accounts)
            and (references is None or r.attributes["reference-id"] in references)
            and (statuses is None or r.attributes["status"] in statuses)
            and (templates is None or _template_id(r) in templates)
            and (note is None or note in (r.attributes["note"] or ""))
            and (start is None or (created is not None and created >= start))
            and (end is None or (created is not None and created <= end))
        )

    return keep


async def list_inquiries(request: Request) -> Response:
    records = state_of(request).of_type(_filter(query_of(request)))
    return respond(request, page_document(request, records))


async def create_inquiry(request: Request) -> Response:
    body = await json_body(request)
    record, meta = domain.create_inquiry(state_of(request), attributes_of(body), meta_of(body))
    return respond(request, single(record, meta), 201)


async def retrieve_inquiry(request: Request) -> Response:
    return respond(request, single(_inquiry(request), request=request))


async def update_inquiry(request: Request) -> Response:
    record = _inquiry(request)
    attributes = attributes_of(await json_body(request))
    return respond(request, single(domain.update_inquiry(state_of(request), record, attributes)))


async def redact_inquiry(request: Request) -> Response:
    return respond(request, single(domain.redact_inquiry(state_of(request), _inquiry(request))))


async def search_inquiries(request: Request) -> Response:
    body = await json_body(request)
    match = search.matcher(body.get("query"), _SEARCH_READERS)
    order = search.sorter(body.get("sort"), _SEARCH_READERS)
    records = order(state_of(request).of_type(lambda r: r.type == "inquiry" and match(r)))
    body_page = body.get("page") if isinstance(body.get("page"), dict) else None
    page = page_request(query_of(request), body_page)
    return respond(request, page_document(request, records, page=page, keep={"page[size]": str(page.size)}))


def _decision(decision: str) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        record = _inquiry(request)
        comment = meta_of(await json_body(request)).get("comment")
        return respond(request, single(domain.decide(state_of(request), record, decision, comment)))

    return handler


def _simple(action: Callable[[Any, Record], Record]) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        return respond(request, single(action(state_of(request), _inquiry(request))))

    return handler


async def resume(request: Request) -> Response:
    record, meta = domain.resume(state_of(request), _inquiry(request))
    return respond(request, single(record, meta))


async def generate_one_time_link(request: Request) -> Response:
    record = _inquiry(request)
    return respond(request, single(record, domain.one_time_link(state_of(request), record)))


async def print_pdf(request: Request) -> Response:
    record = _inquiry(request)
    return Response(inquiry_pdf(record.id, record.attributes["status"]), media_type="application/pdf")


def _tag_action(action: Any) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        state, record = state_of(request), _inquiry(request)
        action(state, record, meta_of(await json_body(request)))
        state.emit("inquiry.updated-tags", record)
        return respond(request, single(record))

    return handler


async def perform_simulate_actions(request: Request) -> Response:
    record = _inquiry(request)
    actions = meta_of(await json_body(request)).get("simulate-actions")
    return respond(request, single(simulation.perform(state_of(request), record, actions)))


async def set_simulate_stubs(request: Request) -> Response:
    record = _inquiry(request)
    stubs = meta_of(await json_body(request)).get("fields-stubs")
    return respond(request, single(simulation.set_stubs(record, stubs)))


_ID = "/inquiries/{inquiry_id}"
ROUTES = [
    Route("/inquiries", list_inquiries, methods=["GET"], name="inquiries.list"),
    Route("/inquiries", create_inquiry, methods=["POST"], name="inquiries.create"),
    Route("/inquiries/search", search_inquiries, methods=["POST"], name="inquiries.search"),
    Route(_ID, retrieve_inquiry, methods=["GET"], name="inquiries.retrieve"),
    Route(_ID, update_inquiry, methods=["PATCH"], name="inquiries.update"),
    Route(_ID, redact_inquiry, methods=["DELETE"], name="inquiries.redact"),
    Route(f"{_ID}/approve", _decision("approve"), methods=["POST"], name="inquiries.approve"),
    Route(f"{_ID}/decline", _decision("decline"), methods=["POST"], name="inquiries.decline"),
    Route(
        f"{_ID}/mark-for-review",
        _simple(domain.mark_for_review),
        methods=["POST"],
        name="inquiries.mark_for_review",
    ),
    Route(f"{_ID}/expire", _simple(domain.expire), methods=["POST"], name="inquiries.expire"),
    Route(f"{_ID}/resume", resume, methods=["POST"], name="inquiries.resume"),
    Route(
        f"{_ID}/generate-one-time-link",
        generate_one_time_link,
        methods=["POST"],
        name="inquiries.generate_one_time_link",
    ),
    Route(f"{_ID}/print", print_pdf, methods=["GET"], name="inquiries.print_pdf"),
    Route(f"{_ID}/add-tag", _tag_action(tags.add_tag), methods=["POST"], name="inquiries.add_tag"),
    Route(f"{_ID}/remove-tag", _tag_action(tags.remove_tag), methods=["POST"], name="inquiries.remove_tag"),
    Route(f"{_ID}/set-tags", _tag_action(tags.set_tags), methods=["POST"], name="inquiries.set_tags"),
    Route(
        f"{_ID}/perform-simulate-actions",
        perform_simulate_actions,
        methods=["POST"],
        name="inquiries.perform_simulate_actions",
    ),
    Route(
        f"{_ID}/set-simulate-stubs",
        set_simulate_stubs,
        methods=["PATCH"],
        name="inquiries.set_simulate_stubs",
    ),
]
