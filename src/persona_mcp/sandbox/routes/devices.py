"""`/devices` routes (catalogue family `devices`): devices seen in inquiry sessions, read only."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from persona_mcp.sandbox.http import page_document, query_of, respond, single, state_of


async def list_devices(request: Request) -> Response:
    session = query_of(request).get("filter[inquiry-session-id]")
    records = state_of(request).of_type(
        lambda r: r.type == "device" and (session is None or r.internal.get("inquiry-session-id") == session)
    )
    return respond(request, page_document(request, records))


async def retrieve_device(request: Request) -> Response:
    return respond(request, single(state_of(request).get(request.path_params["device_id"], "device")))


ROUTES = [
    Route("/devices", list_devices, methods=["GET"], name="devices.list"),
    Route("/devices/{device_id}", retrieve_device, methods=["GET"], name="devices.retrieve"),
]
