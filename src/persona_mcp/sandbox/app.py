"""`create_app`: the sandbox as one Starlette application."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from persona_mcp.sandbox import control
from persona_mcp.sandbox.config import SandboxConfig
from persona_mcp.sandbox.delivery import WebhookDeliverer
from persona_mcp.sandbox.errors import ApiError
from persona_mcp.sandbox.pipeline import API_PREFIX, SandboxPipeline
from persona_mcp.sandbox.routes import (
    accounts,
    cases,
    devices,
    documents,
    events,
    importers,
    inquiries,
    inquiry_sessions,
    inquiry_templates,
    list_items,
    lists,
    logs,
    rate_limits,
    reports,
    transactions,
    verifications,
    webhooks,
    workflows,
)
from persona_mcp.sandbox.seed import seeder_for
from persona_mcp.sandbox.store import SandboxState

_FAMILIES = (
    accounts.ROUTES,
    inquiries.ROUTES,
    inquiry_sessions.ROUTES,
    lists.ROUTES,
    list_items.ROUTES,
    webhooks.ROUTES,
    events.ROUTES,
    reports.ROUTES,
    cases.ROUTES,
    verifications.ROUTES,
    documents.ROUTES,
    transactions.ROUTES,
    logs.ROUTES,
    importers.ROUTES,
    workflows.ROUTES,
    inquiry_templates.ROUTES,
    devices.ROUTES,
    rate_limits.ROUTES,
)


def api_routes() -> list[BaseRoute]:
    """Every emulated operation under `/api/v1`; each route is named by its catalogue operation id."""
    return [
        Route(API_PREFIX + route.path, route.endpoint, methods=sorted(route.methods or ()), name=route.name)
        for family in _FAMILIES
        for route in family
    ]


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.document(), status_code=exc.status, headers=exc.headers)


def create_app(config: SandboxConfig | None = None) -> Starlette:
    """Build a sandbox; its state is `app.state.sandbox` (a `SandboxState`)."""
    config = config or SandboxConfig()
    state = SandboxState(
        config.faults, config.rng_seed, seeder_for(config.seed), report_ticks=config.report_ticks
    )
    routes = api_routes()
    open_routes: list[BaseRoute] = config.token_issuer.routes() if config.token_issuer else []
    pipeline = Middleware(
        SandboxPipeline,
        state=state,
        api_routes=routes,
        open_routes=open_routes,
        api_keys=config.api_keys,
        issuer=config.token_issuer,
        environment_id=config.environment_id,
        organization_id=config.organization_id,
    )
    app = Starlette(
        routes=[*control.ROUTES, *open_routes, *routes],
        middleware=[pipeline],
        exception_handlers={ApiError: _api_error},
    )
    if config.deliver_webhooks:
        state.deliverer = WebhookDeliverer(state, config.webhook_transport)
    app.state.sandbox = state
    return app
