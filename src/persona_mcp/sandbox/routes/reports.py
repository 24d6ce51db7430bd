"""`/reports` routes (catalogue family `reports`, 13 operations)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from persona_mcp.sandbox import tags
from persona_mcp.sandbox.domain import reports as domain
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
from persona_mcp.sandbox.pagination import page_request, paginate
from persona_mcp.sandbox.pdf import inquiry_pdf
from persona_mcp.sandbox.records import Record
from persona_mcp.sandbox.store import SandboxState


def _report(request: Request) -> Record:
    return state_of(request).get(request.path_params["report_id"], "report", type_prefix="report/")


def _reference_of(state: SandboxState, record: Record) -> str | None:
    account = state.records.get(record.internal.get("account-id") or "")
    return None if account is None else account.attributes.get("reference-id")


async def list_reports(request: Request) -> Response:
    state, query = state_of(request), query_of(request)
    accounts = set(query["filter[account-id]"].split(",")) if "filter[account-id]" in query else None
    references = set(query["filter[reference-id]"].split(",")) if "filter[reference-id]" in query else None

    def keep(record: Record) -> bool:
        return (
            record.type.startswith("report/")
            and (accounts is None or record.internal.get("account-id") in accounts)
            and (references is None or _reference_of(state, record) in references)
        )

    return respond(request, page_document(request, state.of_type(keep)))


async def create_report(request: Request) -> Response:
    body = await json_body(request)
    data = body.get("data")
    if not isinstance(data, dict):
        raise ApiError(422, "Invalid attribute", "data is missing", pointer="/data")
    record = domain.create_report(state_of(request), data, meta_of(body))
    return respond(request, single(record), 201)


async def retrieve_report(request: Request) -> Response:
    return respond(request, single(_report(request), request=request))


async def redact_report(request: Request) -> Response:
    return respond(request, single(domain.redact(state_of(request), _report(request))))


async def dismiss_matches(request: Request) -> Response:
    record = _report(request)
    attributes = attributes_of(await json_body(request))
    return respond(request, single(domain.dismiss(state_of(request), record, attributes)))


def _monitoring(paused: bool) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        return respond(request, single(domain.set_monitoring(state_of(request), _report(request), paused)))

    return handler


async def rerun(request: Request) -> Response:
    return respond(request, single(domain.rerun(state_of(request), _report(request))))


async def history(request: Request) -> Response:
    """Runs and actions are not JSON:API resources; pages still follow Persona's cursor rules."""
    record = _report(request)
    entries = [Record(entry["id"], entry["type"], 0, entry) for entry in domain.history(record)]
    chosen, links = paginate(entries, page_request(query_of(request)), request.url.path, {})
    return respond(request, {"data": [entry.attributes for entry in chosen], "links": links})


async def print_pdf(request: Request) -> Response:
    record = _report(request)
    return Response(inquiry_pdf(record.id, record.attributes["status"]), media_type="application/pdf")


def _tag_action(action: Any) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        state, record = state_of(request), _report(request)
        action(state, record, meta_of(await json_body(request)))
        record.attributes.pop("updated-at", None)  # reports carry no updated-at
        return respond(request, single(record))

    return handler


_ID = "/reports/{report_id}"
ROUTES = [
    Route("/reports", list_reports, methods=["GET"], name="reports.list"),
    Route("/reports", create_report, methods=["POST"], name="reports.create"),
    Route(_ID, retrieve_report, methods=["GET"], name="reports.retrieve"),
    Route(_ID, redact_report, methods=["DELETE"], name="reports.redact"),
    Route(f"{_ID}/history", history, methods=["GET"], name="reports.list_history"),
    Route(f"{_ID}/print", print_pdf, methods=["GET"], name="reports.print_pdf"),
    Route(f"{_ID}/dismiss", dismiss_matches, methods=["POST"], name="reports.dismiss_matches"),
    Route(f"{_ID}/pause", _monitoring(True), methods=["POST"], name="reports.pause_monitoring"),
    Route(f"{_ID}/resume", _monitoring(False), methods=["POST"], name="reports.resume_monitoring"),
    Route(f"{_ID}/run", rerun, methods=["POST"], name="reports.rerun"),
    Route(f"{_ID}/add-tag", _tag_action(tags.add_tag), methods=["POST"], name="reports.add_tag"),
    Route(f"{_ID}/remove-tag", _tag_action(tags.remove_tag), methods=["POST"], name="reports.remove_tag"),
    Route(f"{_ID}/set-tags", _tag_action(tags.set_tags), methods=["POST"], name="reports.set_tags"),
]
