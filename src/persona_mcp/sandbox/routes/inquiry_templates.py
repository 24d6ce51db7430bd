"""`/inquiry-templates` and `/inquiry-template-versions` (catalogue family `inquiry-templates`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from persona_mcp.sandbox.domain import templates as domain
from persona_mcp.sandbox.http import (
    attributes_of,
    json_body,
    page_document,
    query_of,
    respond,
    single,
    state_of,
)
from persona_mcp.sandbox.records import Record


def _template(request: Request) -> Record:
    return state_of(request).get(request.path_params["inquiry_template_id"], "inquiry-template")


async def list_templates(request: Request) -> Response:
    records = state_of(request).of_type(lambda r: r.type == "inquiry-template")
    document = page_document(request, records)
    for resource in document["data"]:  # the listing leaves the field schemas out, as documented
        resource["attributes"].pop("field-schemas", None)
    return respond(request, document)


async def retrieve_template(request: Request) -> Response:
    return respond(request, single(_template(request)))


async def list_versions(request: Request) -> Response:
    template = query_of(request).get("filter[inquiry-template-id]")
    if template is not None:
        state_of(request).get(template, "inquiry-template")
    records = state_of(request).of_type(
        lambda r: (
            r.type == "inquiry-template-version"
            and (template is None or r.internal.get("template") == template)
        )
    )
    return respond(request, page_document(request, records))


async def retrieve_translations(request: Request) -> Response:
    return respond(request, {"data": domain.translations(state_of(request), _template(request))})


async def import_translations(request: Request) -> Response:
    attributes = attributes_of(await json_body(request))
    version = domain.import_translations(state_of(request), _template(request), attributes)
    return respond(request, single(version))


_ONE = "/inquiry-templates/{inquiry_template_id}"

ROUTES = [
    Route("/inquiry-templates", list_templates, methods=["GET"], name="inquiry_templates.list"),
    Route(_ONE, retrieve_template, methods=["GET"], name="inquiry_templates.retrieve"),
    Route(
        "/inquiry-template-versions", list_versions, methods=["GET"], name="inquiry_templates.list_versions"
    ),
    Route(
        _ONE + "/translations",
        retrieve_translations,
        methods=["GET"],
        name="inquiry_templates.retrieve_translations",
    ),
    Route(
        _ONE + "/translations",
        import_translations,
        methods=["POST"],
        name="inquiry_templates.import_translations",
    ),
]
