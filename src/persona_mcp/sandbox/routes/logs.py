"""`/api-logs` and `/user-audit-logs` routes (catalogue families `api-logs`, `user-audit-logs`): read only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from persona_mcp.sandbox.http import page_document, respond, single, state_of


def _lister(type_: str) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        return respond(request, page_document(request, state_of(request).of_type(lambda r: r.type == type_)))

    return handler


def _getter(type_: str, param: str) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        return respond(request, single(state_of(request).get(request.path_params[param], type_)))

    return handler


ROUTES = [
    Route("/api-logs", _lister("api-log"), methods=["GET"], name="api_logs.list"),
    Route(
        "/api-logs/{api_log_id}", _getter("api-log", "api_log_id"), methods=["GET"], name="api_logs.retrieve"
    ),
    Route("/user-audit-logs", _lister("user-audit-log"), methods=["GET"], name="user_audit_logs.list"),
    Route(
        "/user-audit-logs/{user_audit_log_id}",
        _getter("user-audit-log", "user_audit_log_id"),
        methods=["GET"],
        name="user_audit_logs.retrieve",
    ),
]
