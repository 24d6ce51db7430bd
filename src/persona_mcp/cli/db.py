"""`persona-mcp db upgrade`: apply the schema migrations."""

from __future__ import annotations

import json
from typing import Annotated

import anyio
import typer

from persona_mcp.config import load_settings
from persona_mcp.store import create_store, upgrade
from persona_mcp.store.migrate import current_revision

app = typer.Typer(help="Database schema management.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_command(
    as_json: Annotated[bool, typer.Option("--json", help="The revision reached, as JSON.")] = False,
) -> None:
    """Apply every pending migration (also done automatically when the server starts)."""

    async def run() -> str | None:
        store = create_store(load_settings().resolved_database_url)
        try:
            await upgrade(store)
            return await current_revision(store)
        finally:
            await store.close()

    revision = anyio.run(run)
    if as_json:
        typer.echo(json.dumps({"revision": revision}))
        return
    typer.echo(f"database at revision {revision}")
