"""`persona-mcp serve`: stdio for desktop clients, or streamable HTTP for remote ones.

The server's modules are imported inside the command: the stdio front answers `initialize` while the
stack is still being imported (see `server/stdio.py`), so nothing heavy may be imported before it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import anyio
import typer

from persona_mcp.toolsets import help_text as toolsets_help


class Transport(StrEnum):
    STDIO = "stdio"
    HTTP = "http"


class AuthChoice(StrEnum):
    """`--auth`: the values of `persona_mcp.config.AuthMode` (not imported here: see above)."""

    BUILTIN = "builtin"
    EXTERNAL = "external"
    GRANT_TOKENS = "grant-tokens"


def _names(value: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def app(
    transport: Annotated[
        Transport, typer.Option(help="stdio (desktop clients) or http (streamable HTTP).")
    ] = (Transport.STDIO),
    host: Annotated[str, typer.Option(help="HTTP bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8000,
    public_url: Annotated[
        str | None,
        typer.Option(help="This server's public /mcp URL (the token audience), if behind a proxy."),
    ] = None,
    toolsets: Annotated[str | None, typer.Option(help=toolsets_help())] = None,
    tools: Annotated[str | None, typer.Option(help="Comma-separated tools to offer.")] = None,
    exclude_tools: Annotated[str | None, typer.Option(help="Comma-separated tools never to offer.")] = None,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Offer read tools only (wins over all).")
    ] = False,
    log_level: Annotated[str, typer.Option(help="Log level for the stderr JSON log.")] = "INFO",
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            help="Host header served over HTTP (host, host:port or host:*); repeatable. "
            "Default: the host of --public-url. Loopback is always served."
        ),
    ] = None,
    allowed_origin: Annotated[
        list[str] | None,
        typer.Option(
            help="Origin served over HTTP (scheme://host[:port]); repeatable. "
            "Default: the origin of --public-url."
        ),
    ] = None,
    max_sessions: Annotated[int | None, typer.Option(min=1, help="Open HTTP sessions in total.")] = None,
    max_sessions_per_grant: Annotated[
        int | None, typer.Option(min=1, help="Open HTTP sessions one grant may hold.")
    ] = None,
    session_idle_timeout: Annotated[
        float | None, typer.Option(min=0.001, help="Seconds after which an idle HTTP session is closed.")
    ] = None,
    header_timeout: Annotated[
        float | None, typer.Option(min=0.001, help="Seconds a client has to send its request headers.")
    ] = None,
    auth: Annotated[
        AuthChoice | None,
        typer.Option(
            "--auth",
            help="HTTP token mode: builtin (this server is its own OAuth authorization server), external "
            "(JWTs of PERSONA_MCP_OAUTH_ISSUER) or grant-tokens (static grant tokens only). Default: "
            "external when an issuer is configured, else builtin. Grant tokens work in every mode.",
        ),
    ] = None,
) -> None:
    """Serve the Persona tools over MCP."""
    from persona_mcp.server.heap import pause_collection, resume_collection

    pause_collection()  # until the server is ready (`freeze_startup_heap`): see server/heap.py
    try:
        _serve(
            transport,
            host=host,
            port=port,
            public_url=public_url,
            log_level=log_level,
            exposure={
                "toolsets": _names(toolsets),
                "tools": _names(tools),
                "exclude_tools": _names(exclude_tools),
                "read_only": read_only,
            },
            given={
                "allowed_hosts": allowed_host,
                "allowed_origins": allowed_origin,
                "max_sessions": max_sessions,
                "max_sessions_per_grant": max_sessions_per_grant,
                "session_idle_timeout_seconds": session_idle_timeout,
                "header_timeout_seconds": header_timeout,
            },
            auth=auth,
        )
    finally:
        resume_collection()


def _serve(
    transport: Transport,
    *,
    host: str,
    port: int,
    public_url: str | None,
    log_level: str,
    exposure: dict[str, Any],
    given: dict[str, Any],
    auth: AuthChoice | None,
) -> None:
    from persona_mcp.config import HttpSettings, load_settings
    from persona_mcp.logs import configure_logging

    configure_logging(log_level)
    settings = load_settings()  # a ConfigError is one line with its fix (persona_mcp.cli.main)
    if auth is not None:
        from persona_mcp.config import AuthMode

        settings.auth = AuthMode(auth.value)
    overrides = {name: value for name, value in given.items() if value}
    if overrides:  # command-line options win over the environment and the file
        settings.http = HttpSettings.model_validate(settings.http.model_dump() | overrides)
    from persona_mcp.server.event_loop import loop_options

    try:
        if transport is Transport.STDIO:
            from persona_mcp.server.stdio import run_stdio

            anyio.run(run_stdio, settings, exposure, backend_options=loop_options())
        else:
            from persona_mcp.server.run import run_http

            anyio.run(
                lambda: run_http(settings, exposure, host=host, port=port, public_url=public_url),
                backend_options=loop_options(),
            )
    except Exception as exc:
        from persona_mcp.tools.registry import UnknownToolError  # imported already if it was raised

        if not isinstance(exc, UnknownToolError):
            raise
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
