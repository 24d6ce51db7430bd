"""`/workflows/{id}/trigger`, `/workflow-runs`, `/workflow-versions` (catalogue family `workflows`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from persona_mcp.sandbox.domain import workflows as domain
from persona_mcp.sandbox.http import (
    attributes_of,
    json_body,
    page_document,
    query_of,
    respond,
    single,
    state_of,
)


async def trigger_workflow(request: Request) -> Response:
    attributes = attributes_of(await json_body(request))
    run = domain.trigger(state_of(request), request.path_params["workflow_id"], attributes)
    return respond(request, single(run))


async def list_runs(request: Request) -> Response:
    status = query_of(request).get("filter[status]")
    records = state_of(request).of_type(
        lambda r: r.type == "workflow-run" and (status is None or r.attributes["status"] == status)
    )
    return respond(request, page_document(request, records))


async def retrieve_run(request: Request) -> Response:
    run = state_of(request).get(request.path_params["workflow_run_id"], "workflow-run")
    return respond(request, single(run))


async def list_versions(request: Request) -> Response:
    workflow = query_of(request).get("filter[workflow-id]")
    records = state_of(request).of_type(
        lambda r: (
            r.type == "workflow-version" and (workflow is None or r.internal.get("workflow") == workflow)
        )
    )
    return respond(request, page_document(request, records))


ROUTES = [
    Route(
        "/workflows/{workflow_id}/trigger", trigger_workflow, methods=["POST"], name="workflows.create_run"
    ),
    Route("/workflow-runs", list_runs, methods=["GET"], name="workflows.list_runs"),
    Route("/workflow-runs/{workflow_run_id}", retrieve_run, methods=["GET"], name="workflows.retrieve_run"),
    Route("/workflow-versions", list_versions, methods=["GET"], name="workflows.list_versions"),
]
