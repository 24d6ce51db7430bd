"""Running the assembled server on a transport until it is stopped."""

from __future__ import annotations

from urllib.parse import urlsplit

import uvicorn
from mcp.server.stdio import stdio_server
from starlette.applications import Starlette

from persona_mcp.auth.verifier import CallerTokenVerifier
from persona_mcp.config import Settings
from persona_mcp.server.app import PersonaMcp, open_server
from persona_mcp.server.exposure import ExposureOptions
from persona_mcp.server.http import build_http_app, resource_url


async def run_stdio(settings: Settings, exposure: ExposureOptions) -> None:
    """Serve one stdio connection; the caller is the grant behind PERSONA_MCP_TOKEN."""
    async with open_server(settings, exposure=exposure, transport="stdio") as app:
        async with stdio_server() as (read_stream, write_stream):
            await app.server.run(read_stream, write_stream, app.server.create_initialization_options())


def http_app_for(app: PersonaMcp, settings: Settings, resource: str, host: str) -> Starlette:
    """The ASGI app for an opened server: grant tokens always, JWTs when an issuer is configured."""
    verifier = CallerTokenVerifier(app.callers, resource_url=resource)
    if settings.oauth.enabled and settings.oauth.issuer:
        issuers = [settings.oauth.issuer]
    else:
        # Grant tokens come from `persona-mcp grants create`; the metadata still names an issuer, and
        # this server's own origin is the honest answer.
        parts = urlsplit(resource)
        issuers = [f"{parts.scheme}://{parts.netloc}/"]
    return build_http_app(app, verifier=verifier, resource=resource, authorization_servers=issuers, host=host)


async def run_http(
    settings: Settings, exposure: ExposureOptions, *, host: str, port: int, public_url: str | None = None
) -> None:
    """Serve streamable HTTP at /mcp until interrupted."""
    resource = public_url or settings.oauth.resource_url or resource_url(host, port)
    async with open_server(settings, exposure=exposure, transport="http", resource_url=resource) as app:
        asgi = http_app_for(app, settings, resource, host)
        config = uvicorn.Config(asgi, host=host, port=port, log_level="warning", lifespan="on")
        await uvicorn.Server(config).serve()
