"""Request parsing and JSON:API responses shared by every route module."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from persona_mcp.sandbox.errors import ApiError
from persona_mcp.sandbox.include import included
from persona_mcp.sandbox.inflection import inflect, kebab_keys
from persona_mcp.sandbox.pagination import PageRequest, page_request, paginate
from persona_mcp.sandbox.records import Record
from persona_mcp.sandbox.store import SandboxState

API_PREFIX = "/api/v1"


def state_of(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object; an empty body reads as `{}`."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "Bad request", "Request body is not valid JSON") from exc
    if not isinstance(parsed, dict):
        raise ApiError(400, "Bad request", "Request body must be a JSON object")
    return parsed


def _section(body: dict[str, Any], *path: str) -> dict[str, Any]:
    node: Any = body
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            return {}
    if not isinstance(node, dict):
        raise ApiError(
            400, "Bad request", f"{'.'.join(path)} must be an object", pointer="/" + "/".join(path)
        )
    return kebab_keys(node)


def attributes_of(body: dict[str, Any]) -> dict[str, Any]:
    """`data.attributes` with keys normalised to kebab-case (Persona accepts kebab, snake and camel)."""
    return _section(body, "data", "attributes")


def meta_of(body: dict[str, Any]) -> dict[str, Any]:
    return _section(body, "meta")


def query_of(request: Request) -> dict[str, str]:
    return dict(request.query_params)


def respond(request: Request, document: dict[str, Any], status: int = 200) -> Response:
    """Render a document in the casing the caller asked for with `Key-Inflection`."""
    inflection = request.headers.get("key-inflection", "kebab").lower()
    payload = json.dumps(inflect(document, inflection), separators=(",", ":")).encode()
    return Response(payload, status_code=status, media_type="application/json")


def single(
    record: Record, meta: dict[str, Any] | None = None, request: Request | None = None
) -> dict[str, Any]:
    """One resource; with the request, also the related objects its `include` parameter names."""
    document: dict[str, Any] = {"data": record.resource()}
    if request is not None and "include" in request.query_params:
        document["included"] = included(state_of(request), record, request.query_params["include"])
    if meta:
        document["meta"] = meta
    return document


def page_document(
    request: Request,
    records: Sequence[Record],
    *,
    page: PageRequest | None = None,
    keep: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One page of a newest-first collection with `links`, carrying the caller's filters forward."""
    query = query_of(request)
    chosen, links = paginate(
        records,
        page or page_request(query),
        request.url.path,
        keep
        if keep is not None
        else {k: v for k, v in query.items() if k.startswith(("filter[", "page[size]"))},
    )
    return {"data": [r.resource() for r in chosen], "links": links}


def require_string(attributes: dict[str, Any], name: str) -> str:
    """A mandatory non-empty string attribute, or Persona's 422 pointing at it."""
    value = attributes.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ApiError(
            422, "Invalid attribute", f"data.attributes.{name} is missing", pointer=f"/data/attributes/{name}"
        )
    return value
