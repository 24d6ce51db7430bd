"""Running the assembled server on a transport until it is stopped."""

from __future__ import annotations

import uvicorn
from mcp.server.stdio import stdio_server

from persona_mcp.config import Settings
from persona_mcp.server.app import open_server
from persona_mcp.server.exposure import ExposureOptions
from persona_mcp.server.http import build_http_app, resource_url
from persona_mcp.server.verifier_factory import build_verifier


async def run_stdio(settings: Settings, exposure: ExposureOptions) -> None:
    """Serve one stdio connection; the caller is the grant behind PERSONA_MCP_TOKEN."""
    async with open_server(settings, exposure=exposure, transport="stdio") as app:
        async with stdio_server() as (read_stream, write_stream):
            await app.server.run(read_stream, write_stream, app.server.create_initialization_options())


async def run_http(
    settings: Settings, exposure: ExposureOptions, *, host: str, port: int, public_url: str | None = None
) -> None:
    """Serve streamable HTTP at /mcp until interrupted."""
    resource = resource_url(host, port, public_url)
    async with open_server(settings, exposure=exposure, transport="http") as app:
        verifier, issuers = build_verifier(app, settings, resource)
        asgi = build_http_app(app, verifier=verifier, resource=resource, authorization_servers=issuers, host=host)
        config = uvicorn.Config(asgi, host=host, port=port, log_level="warning", lifespan="on")
        await uvicorn.Server(config).serve()
