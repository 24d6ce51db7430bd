"""`/webhooks` routes (catalogue family `webhooks`, 9 operations)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from persona_mcp.sandbox.domain import webhooks as domain
from persona_mcp.sandbox.http import (
    attributes_of,
    json_body,
    meta_of,
    page_document,
    respond,
    single,
    state_of,
)
from persona_mcp.sandbox.records import Record


def _webhook(request: Request) -> Record:
    return state_of(request).get(request.path_params["webhook_id"], "webhook")


def _without_secrets(document: dict[str, Any]) -> dict[str, Any]:
    """Persona shows signing secrets only on create, retrieve, clone and rotate-secret answers."""
    data = document["data"]
    for resource in data if isinstance(data, list) else [data]:
        resource["attributes"].pop("secret", None)
        resource["attributes"].pop("secrets", None)
    return document


async def list_webhooks(request: Request) -> Response:
    records = state_of(request).of_type(lambda r: r.type == "webhook")
    return respond(request, _without_secrets(page_document(request, records)))


async def create_webhook(request: Request) -> Response:
    attributes = attributes_of(await json_body(request))
    return respond(request, single(domain.create_webhook(state_of(request), attributes)), 201)


async def retrieve_webhook(request: Request) -> Response:
    return respond(request, single(_webhook(request)))


async def update_webhook(request: Request) -> Response:
    record = _webhook(request)
    updated = domain.update_webhook(record, attributes_of(await json_body(request)))
    return respond(request, _without_secrets(single(updated)))


def _toggle(enabled: bool) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        return respond(request, _without_secrets(single(domain.set_enabled(_webhook(request), enabled))))

    return handler


async def archive_webhook(request: Request) -> Response:
    return respond(request, _without_secrets(single(domain.archive(_webhook(request)))))


async def clone_webhook(request: Request) -> Response:
    return respond(request, single(domain.clone(state_of(request), _webhook(request))))


async def rotate_secret(request: Request) -> Response:
    record = _webhook(request)
    expires_in = meta_of(await json_body(request)).get("expires-in-seconds")
    return respond(request, single(domain.rotate_secret(state_of(request), record, expires_in)))


_ID = "/webhooks/{webhook_id}"
ROUTES = [
    Route("/webhooks", list_webhooks, methods=["GET"], name="webhooks.list"),
    Route("/webhooks", create_webhook, methods=["POST"], name="webhooks.create"),
    Route(_ID, retrieve_webhook, methods=["GET"], name="webhooks.retrieve"),
    Route(_ID, update_webhook, methods=["PATCH"], name="webhooks.update"),
    Route(f"{_ID}/archive", archive_webhook, methods=["POST"], name="webhooks.archive"),
    Route(f"{_ID}/enable", _toggle(True), methods=["POST"], name="webhooks.enable"),
    Route(f"{_ID}/disable", _toggle(False), methods=["POST"], name="webhooks.disable"),
    Route(f"{_ID}/rotate-secret", rotate_secret, methods=["POST"], name="webhooks.rotate_secret"),
    Route(f"{_ID}/clone", clone_webhook, methods=["POST"], name="webhooks.clone"),
]
