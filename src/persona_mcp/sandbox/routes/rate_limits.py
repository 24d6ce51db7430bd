"""`/rate-limits` (catalogue family `rate-limits`): the calling key's window, as the headers report it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from persona_mcp.sandbox.http import respond, state_of


async def list_rate_limits(request: Request) -> Response:
    window = state_of(request).injector.current_window()
    resource = {
        "type": "rate-limit/api",
        "attributes": {
            "limit": window.limit,
            "remaining": window.remaining,
            "seconds-to-reset": window.reset_seconds,
        },
    }
    return respond(request, {"data": [resource]})


ROUTES = [Route("/rate-limits", list_rate_limits, methods=["GET"], name="rate_limits.list")]
