"""`persona-mcp webhooks`: connect a Persona webhook to this server's receiver (and follow rotations).

`connect --env sandbox --url https://mcp.example.com` creates a webhook in Persona that delivers to
`https://mcp.example.com/webhooks/persona/<endpoint id>`, enables it, and stores its signing secret
encrypted (like credentials). `connect --env sandbox --webhook-id wbh_...` registers an existing
webhook instead, or, run again after `rotate_webhook_secret`, stores the new secret beside the old one,
which keeps verifying deliveries until its `expires-at`. Every change is recorded in the audit log first.
"""

from __future__ import annotations

from typing import Annotated

import typer

from persona_mcp.auth.environment import Environment
from persona_mcp.cli.credentials import _actor, _audit, _database, _run

app = typer.Typer(help="Connect Persona webhooks to this server's verified receiver.", no_args_is_help=True)


@app.callback()
def _logs_to_stderr() -> None:
    from persona_mcp.logs import configure_logging

    configure_logging("WARNING")


@app.command("connect")
def connect(
    env: Annotated[Environment, typer.Option("--env", help="Persona environment of the webhook.")],
    url: Annotated[
        str | None, typer.Option(help="This server's public base URL (creating a webhook needs it).")
    ] = None,
    webhook_id: Annotated[
        str | None, typer.Option(help="Register this existing webhook (wbh_...) instead of creating one.")
    ] = None,
    event: Annotated[
        list[str] | None, typer.Option(help="Event names to subscribe to (repeatable; default: all).")
    ] = None,
    principal: Annotated[str | None, typer.Option(help="Use this principal's credential.")] = None,
) -> None:
    """Create (or register) a Persona webhook for the receiver and store its secret encrypted."""

    async def work() -> str:
        from persona_mcp.auth.credentials import CredentialResolver, load_secret_box
        from persona_mcp.config import load_settings
        from persona_mcp.events.connect import connect_webhook
        from persona_mcp.events.endpoints import EndpointStore
        from persona_mcp.persona.client import PersonaClient
        from persona_mcp.persona.ids import ObjectKind, validate_id

        if webhook_id is not None:
            validate_id(ObjectKind.WEBHOOK, webhook_id)
        settings = load_settings()
        async with _database(settings) as store, _audit(store, settings) as sink:
            box = load_secret_box(settings.secret_key, settings.data_dir)
            resolver = CredentialResolver(store, box, settings=settings, events=sink)
            provider = await resolver.provider_for(env, principal or "")
            async with PersonaClient.from_settings(settings.persona, provider) as client:
                done = await connect_webhook(
                    client,
                    EndpointStore(store, box, events=sink),
                    environment=env,
                    actor=_actor(),
                    public_base_url=url,
                    webhook_id=webhook_id,
                    enabled_events=event or ("*",),
                )
        verb = "created and enabled" if done.created else "registered"
        return (
            f"{verb} webhook {done.webhook_id} -> endpoint {done.endpoint_id} ({done.secrets} secret(s) "
            f"stored encrypted)\ndeliveries go to {done.url}"
        )

    typer.echo(_run(work))
