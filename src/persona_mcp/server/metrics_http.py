"""`/metrics` for Prometheus: off unless configured, and never open to whoever can reach the MCP port.

With `PERSONA_MCP_METRICS_TOKEN`, a scrape must send `Authorization: Bearer <token>` (compared in constant
time); with `PERSONA_MCP_METRICS_BIND`, a separate listener serves `/metrics` only, on an address an
operator can keep private (the token, if also set, is required there too).
"""

from __future__ import annotations

import hmac

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from persona_mcp.config import MetricsSettings
from persona_mcp.server.observe import Observer


def metrics_endpoint(observer: Observer, settings: MetricsSettings) -> Route:
    token = settings.token.get_secret_value().encode() if settings.token else None

    async def metrics(request: Request) -> Response:
        if token is not None:
            given = request.headers.get("authorization", "")
            scheme, _, value = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token):
                return JSONResponse(
                    {"error": "metrics need the metrics token (Authorization: Bearer ...)"},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                )
        return Response(generate_latest(observer.registry), media_type=CONTENT_TYPE_LATEST)

    return Route("/metrics", endpoint=metrics, methods=["GET"])


def metrics_app(observer: Observer, settings: MetricsSettings) -> Starlette:
    """The separate listener's app (`PERSONA_MCP_METRICS_BIND`): `/metrics` and nothing else."""
    return Starlette(routes=[metrics_endpoint(observer, settings)])
