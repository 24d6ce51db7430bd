"""Handler factories for the uniform tools: get one, list a page, act on one object.

A family (`tools/family.py`) declares what differs (path, models, body) and gets a handler that does the
rest the same way everywhere: build the path from validated ids, send with the call's Idempotency-Key on
writes, flatten the resource into the result model, and record every object id touched for the audit
log. Every tool spec is made by a family's builders; handlers that do something special (search, the
PDF, list-item types) are written out in their family.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum
from typing import Annotated, Any, TypeVar, cast

from pydantic import BaseModel, Field, create_model

from persona_mcp.persona.client import PersonaResponse
from persona_mcp.persona.errors import PersonaError
from persona_mcp.persona.ids import ObjectKind, id_pattern
from persona_mcp.tools.inputs import PageInput, ToolInput
from persona_mcp.tools.results import ObjectView, Page, from_upstream, single
from persona_mcp.tools.spec import ToolContext

InT = TypeVar("InT", bound=ToolInput)
OutT = TypeVar("OutT", bound=BaseModel)
PageInT = TypeVar("PageInT", bound=PageInput)
ResultT = TypeVar("ResultT", bound=ObjectView)
PageT = TypeVar("PageT", bound=Page)

Body = Callable[[Any], Mapping[str, Any] | None]


class Method(StrEnum):
    GET = "GET"
    POST = "POST"
    PATCH = "PATCH"
    DELETE = "DELETE"


def path_for(template: str, args: BaseModel) -> str:
    """Fill `{field}` placeholders from validated arguments (ids matched their pattern already)."""
    return template.format_map({name: getattr(args, name) for name in type(args).model_fields})


def one_result(ctx: ToolContext, result: type[ResultT], response: PersonaResponse) -> ResultT:
    """Flatten a single-resource response and record the object id."""
    resource = response.document.one()
    ctx.touch(resource.id)
    return single(result, resource, response.document, response.request_id, status=response.status)


class CursorNotInListingError(PersonaError):
    """A well-formed cursor after which Persona returned nothing: it is not a cursor of this listing."""


def cursor_bound(input_model: type[InT], finds: ObjectKind | None) -> type[InT]:
    """The input model of a page tool, with its `after` cursor bound to the kind of object it lists.

    How a cursor is known to belong to a tool: Persona's cursor is the id of the last object of the
    previous page (`links.next` carries `page[after]=<id>`, PROTOCOL.md section 6), and every list and
    search tool declares the kind it lists (`finds`), so a cursor of `list_accounts` is an account id.
    A cursor of another kind (an inquiry id given to `list_accounts`) or of no kind is refused with the
    other arguments, in words, before anything is sent; the schema carries the same pattern, so it is
    exactly as strict as validation. A cursor of the right kind that is not in this listing (made up,
    or from a page with other filters) brings an empty page back, which `page_result` turns into an
    error rather than an end of the data. Cursors are not wrapped or signed: they stay Persona's own.
    """
    if finds is None or not issubclass(input_model, PageInput):
        return input_model
    cursor = Annotated[str | None, Field(pattern=id_pattern(finds))]
    after = Field(None, description="A next_cursor.")  # short: every byte is in tools/list
    bound = create_model(
        input_model.__name__,
        __base__=input_model,
        __module__=input_model.__module__,
        __doc__=input_model.__doc__,
        after=(cursor, after),
    )
    return cast(type[InT], bound)


def page_result(
    ctx: ToolContext,
    page: type[PageT],
    view: type[ObjectView],
    response: PersonaResponse,
    *,
    after: str | None = None,
) -> PageT:
    """Flatten a collection response into `page.items`, with the next cursor.

    `after` is the cursor the page was asked for: nothing after it means it is not in this listing.
    """
    resources = response.document.many()
    if not resources and after is not None:
        raise CursorNotInListingError(
            "no page follows the after cursor", status=response.status, request_id=response.request_id
        )
    ctx.touch(*(resource.id for resource in resources))
    status, request_id = response.status, response.request_id
    items = [
        view.from_resource(resource, response.document, status=status, request_id=request_id)
        for resource in resources
    ]
    next_cursor = response.document.links.next_cursor()
    values = {"items": items, "next_cursor": next_cursor, "request_id": request_id}
    return from_upstream(page, values, status=status, request_id=request_id)


async def send(
    ctx: ToolContext,
    method: Method,
    path: str,
    body: Mapping[str, Any] | None = None,
    params: Mapping[str, str] | None = None,
) -> PersonaResponse:
    """One Persona call; writes carry the pipeline's Idempotency-Key so retries replay, not repeat."""
    if method is Method.GET:
        return await ctx.persona.get(path, params=params)
    if method is Method.DELETE:
        return await ctx.persona.delete(path, params=params)
    if method is Method.PATCH:
        return await ctx.persona.patch(path, json=body or {}, idempotency_key=ctx.idempotency_key)
    return await ctx.persona.post(path, json=body, params=params, idempotency_key=ctx.idempotency_key)


def object_handler(
    method: Method, template: str, result: type[ResultT], body: Body | None = None
) -> Callable[[ToolContext, Any], Awaitable[ResultT]]:
    """A handler that sends one request about one object and returns the flattened object."""

    async def handler(ctx: ToolContext, args: Any) -> ResultT:
        payload = body(args) if body is not None else None
        response = await send(ctx, method, path_for(template, args), payload)
        return one_result(ctx, result, response)

    return handler


def routed_handler(
    method: Method, by: str, routes: Mapping[Any, str], result: type[ResultT], body: Body | None = None
) -> Callable[[ToolContext, Any], Awaitable[ResultT]]:
    """An `object_handler` whose path the argument `by` chooses: `routes` maps its values to paths
    (`{True: "/reports/{report_id}/pause", False: ".../resume"}`)."""
    handlers = {value: object_handler(method, template, result, body) for value, template in routes.items()}

    async def handler(ctx: ToolContext, args: Any) -> ResultT:
        return await handlers[getattr(args, by)](ctx, args)

    return handler


def page_handler(
    template: str, page: type[PageT], view: type[ObjectView]
) -> Callable[[ToolContext, Any], Awaitable[PageT]]:
    """A handler that fetches one page of a list endpoint, filtered by the input's `query_filters`."""

    async def handler(ctx: ToolContext, args: Any) -> PageT:
        params: dict[str, str] = {}
        if isinstance(args, PageInput):
            params.update(args.page_params())
        params.update(args.filter_params())
        response = await ctx.persona.get(path_for(template, args), params=params)
        after = args.after if isinstance(args, PageInput) else None
        return page_result(ctx, page, view, response, after=after)

    return handler
