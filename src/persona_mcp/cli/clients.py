"""`persona-mcp clients`: the OAuth clients registered with the built-in authorization server.

`register` registers a client by hand (for servers with dynamic registration turned off); `list` shows
each client with its redirect URIs and how many of its tokens are live; `revoke` revokes a client and
every token it holds (its next call is refused). Changes are recorded in the audit log first; if the
audit log cannot be opened, they are refused. Client names are chosen by whoever registered the client:
they are printed as plain text, never as markup.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio
import typer
from mcp.shared.auth import OAuthClientInformationFull
from pydantic import AnyUrl
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from persona_mcp.auth.credentials.secretbox import load_secret_box
from persona_mcp.auth.grants import UnauditedChangeError
from persona_mcp.auth.oauth.clients import (
    ClientNotFoundError,
    ClientStore,
    ClientSummary,
    registration_problem,
)
from persona_mcp.auth.scopes import Scope
from persona_mcp.cli.grants import (
    AuditUnavailableError,
    _actor,
    _event_sink,
    _ReadOnlySink,
)
from persona_mcp.config import load_settings
from persona_mcp.logs import configure_logging
from persona_mcp.store import create_store, upgrade

app = typer.Typer(
    help="OAuth clients registered with the built-in authorization server: register, list and revoke.",
    no_args_is_help=True,
)
_stdout = Console()
_stderr = Console(stderr=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@app.callback()
def _logs_to_stderr() -> None:
    configure_logging("WARNING")


@asynccontextmanager
async def _client_store(*, changes: bool, secrets: bool = False) -> AsyncIterator[ClientStore]:
    settings = load_settings()
    store = create_store(settings.resolved_database_url)
    try:
        await upgrade(store)
        if changes:
            box = load_secret_box(settings.secret_key, settings.data_dir) if secrets else None
            async with _event_sink(store, settings) as sink:
                yield ClientStore(store, sink, box=box)
        else:
            yield ClientStore(store, _ReadOnlySink(), box=None)
    finally:
        await store.close()


def _describe(client: ClientSummary) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "client_name": client.client_name,
        "redirect_uris": client.redirect_uris,
        "auth_method": client.auth_method,
        "created_at": client.created_at.isoformat(),
        "revoked_at": client.revoked_at.isoformat() if client.revoked_at else None,
        "live_tokens": client.live_tokens,
    }


@app.command("register")
def register_command(
    name: Annotated[str, typer.Option("--name", help="The client's name, shown on the consent page.")],
    redirect_uri: Annotated[
        list[str], typer.Option("--redirect-uri", help="Redirect URI (exact; repeatable).")
    ],
    confidential: Annotated[
        bool, typer.Option("--confidential", help="Issue a client secret (client_secret_post).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Register a client by hand (where dynamic registration is turned off); a secret is shown once."""
    client = OAuthClientInformationFull(
        client_id=str(uuid.uuid4()),
        client_id_issued_at=int(time.time()),
        client_name=name,
        redirect_uris=[AnyUrl(uri) for uri in redirect_uri],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="client_secret_post" if confidential else "none",
        client_secret=secrets.token_hex(32) if confidential else None,
        client_secret_expires_at=0 if confidential else None,
        scope=" ".join(scope.value for scope in Scope),
    )

    problem = registration_problem(client)
    if problem is not None:
        _stderr.print(f"error: {escape(problem[1])}")
        raise typer.Exit(2)

    async def work() -> None:
        async with _client_store(changes=True, secrets=confidential) as clients:
            await clients.register(client)

    try:
        anyio.run(work)
    except (AuditUnavailableError, UnauditedChangeError) as exc:
        _stderr.print(f"error: {escape(str(exc))}")
        raise typer.Exit(1) from None
    shown = {"client_id": client.client_id, "client_secret": client.client_secret}
    if as_json:
        sys.stdout.write(json.dumps(shown, indent=2) + "\n")
        return
    _stdout.print(f"registered {client.client_id}", markup=False, highlight=False)
    if client.client_secret:
        _stdout.print("client secret (shown once; store it now):", markup=False)
        _stdout.print(client.client_secret, markup=False, highlight=False, soft_wrap=True)


@app.command("list")
def list_command(as_json: JsonOption = False) -> None:
    """List registered OAuth clients, revoked ones included."""

    async def work() -> list[ClientSummary]:
        async with _client_store(changes=False) as clients:
            return await clients.list_all()

    clients = anyio.run(work)
    if as_json:
        sys.stdout.write(json.dumps([_describe(c) for c in clients], indent=2) + "\n")
        return
    table = Table(title="OAuth clients")
    for column in ("client id", "name", "redirect URIs", "auth", "created", "state", "live tokens"):
        table.add_column(column)
    for client in clients:
        table.add_row(
            client.client_id,
            escape(client.client_name or ""),
            escape("\n".join(client.redirect_uris)),
            client.auth_method,
            client.created_at.strftime("%Y-%m-%d %H:%M"),
            "revoked" if client.revoked_at else "live",
            str(client.live_tokens),
        )
    _stdout.print(table)


@app.command("revoke")
def revoke_command(client_id: Annotated[str, typer.Argument(help="Client id.")]) -> None:
    """Revoke a client and all its tokens: its next call is refused."""

    async def work() -> None:
        async with _client_store(changes=True) as clients:
            await clients.revoke(client_id, actor=_actor())

    try:
        anyio.run(work)
    except ClientNotFoundError as exc:
        _stderr.print(f"error: {escape(str(exc))}")
        raise typer.Exit(1) from None
    except (AuditUnavailableError, UnauditedChangeError) as exc:
        _stderr.print(f"error: {escape(str(exc))}")
        raise typer.Exit(1) from None
    _stdout.print(f"revoked {escape(client_id)}")
