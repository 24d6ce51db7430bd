"""`persona-mcp sandbox`: run the Persona API emulator on a local port."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from persona_mcp.sandbox import DEFAULT_API_KEY, Faults, SandboxConfig, create_app


def app(
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8780,
    host: Annotated[str, typer.Option(help="Interface to bind (keep it local).")] = "127.0.0.1",
    seed: Annotated[str | None, typer.Option(help="Seed data to start with: 'demo' or none.")] = None,
    latency_ms: Annotated[int, typer.Option(help="Added latency on every request, in ms.")] = 0,
    rate_429: Annotated[float, typer.Option(help="Fraction of requests answered 429.")] = 0.0,
    rate_5xx: Annotated[float, typer.Option(help="Fraction of requests answered 500/502/503.")] = 0.0,
    drop_rate: Annotated[
        float, typer.Option(help="Fraction of responses lost after the request was applied.")
    ] = 0.0,
    rate_limit: Annotated[int | None, typer.Option(help="Requests allowed per minute (429 beyond).")] = None,
    rng_seed: Annotated[int, typer.Option(help="Seed of the sandbox's random choices.")] = 0,
    deliver_webhooks: Annotated[
        bool, typer.Option(help="POST events to enabled webhooks, signed as Persona signs them.")
    ] = False,
) -> None:
    """Run the Persona sandbox (an emulator of Persona's API for tests and demos; no real verifications)."""
    if seed not in (None, "demo"):
        raise typer.BadParameter("only 'demo' is known", param_hint="--seed")
    faults = Faults(
        latency_ms=latency_ms,
        rate_429=rate_429,
        rate_5xx=rate_5xx,
        drop_rate=drop_rate,
        rate_limit_per_minute=rate_limit,
    )
    sandbox = create_app(
        SandboxConfig(
            seed="demo" if seed else None, faults=faults, rng_seed=rng_seed, deliver_webhooks=deliver_webhooks
        )
    )
    typer.echo(f"Persona sandbox at http://{host}:{port}/api/v1 (API key: {DEFAULT_API_KEY})", err=True)
    uvicorn.run(sandbox, host=host, port=port, log_level="warning")
