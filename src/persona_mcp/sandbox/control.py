"""`/__sandbox__/...`: test controls over HTTP (no authentication, never faulted)."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from persona_mcp.sandbox.store import SandboxState


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


async def get_faults(request: Request) -> Response:
    return JSONResponse(_state(request).faults.to_json())


async def put_faults(request: Request) -> Response:
    """Apply a partial update of the fault settings; unknown names or bad values give 400."""
    try:
        changes = json.loads(await request.body() or b"{}")
        if not isinstance(changes, dict):
            raise ValueError("body must be a JSON object")
        faults = _state(request).faults
        faults.update(changes)
    except ValueError as exc:
        return JSONResponse({"errors": [{"title": "Bad request", "details": str(exc)}]}, status_code=400)
    return JSONResponse(faults.to_json())


async def reset(request: Request) -> Response:
    async with _state(request).lock:
        _state(request).reset()
    return Response(status_code=204)


async def counters(request: Request) -> Response:
    return JSONResponse(dict(_state(request).counters))


ROUTES = [
    Route("/__sandbox__/faults", get_faults, methods=["GET"]),
    Route("/__sandbox__/faults", put_faults, methods=["PUT"]),
    Route("/__sandbox__/reset", reset, methods=["POST"]),
    Route("/__sandbox__/counters", counters, methods=["GET"]),
]
