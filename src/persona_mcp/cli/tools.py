"""`persona-mcp tools`: the catalogue for reviewers - every tool with its scope, effect and operations.

`persona-mcp tools scopes` answers the reviewer's other question: what does granting this scope open?
docs/tools.md is the same data, written by `persona-mcp docs generate`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from persona_mcp.tools import catalogue
from persona_mcp.tools.contract import tier1_operation_ids

app = typer.Typer(help="List the tool catalogue and the scopes that open each tool.")


def _tool_rows() -> list[dict[str, Any]]:
    return [
        {
            "name": spec.name,
            "toolset": spec.toolset,
            "title": spec.title,
            "scope": spec.scope.value,
            "effect": spec.effect.value,
            "read_only": spec.annotations.read_only,
            "destructive": spec.annotations.destructive,
            "idempotent": spec.annotations.idempotent,
            "operations": list(spec.operations),
        }
        for spec in catalogue
    ]


@app.callback(invoke_without_command=True)
def tools(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print every tool with its toolset, scope, effect and Persona operations."""
    if ctx.invoked_subcommand is not None:
        return
    rows = _tool_rows()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    covered = set(catalogue.covered_operations())
    tier1 = tier1_operation_ids()
    table = Table(title=f"{len(tier1)} Persona operations -> {len(rows)} tools")
    for column in ("Tool", "Toolset", "Scope", "Effect", "Operations"):
        table.add_column(column)
    for row in rows:
        ops = row["operations"]
        shown = ", ".join(ops) if len(ops) <= 2 else f"{ops[0]} … (+{len(ops) - 1})"
        table.add_row(row["name"], row["toolset"], row["scope"], row["effect"], shown)
    console = Console()
    console.print(table)
    console.print(f"Covered {sum(op in covered for op in tier1)} of {len(tier1)} tier-1 operations.")


@app.command()
def scopes(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print which tools each scope opens."""
    grouped = {scope.value: [spec.name for spec in specs] for scope, specs in catalogue.by_scope().items()}
    if as_json:
        typer.echo(json.dumps(grouped, indent=2))
        return
    table = Table(title="Tools opened by each scope")
    table.add_column("Scope")
    table.add_column("Tools")
    for scope, names in grouped.items():
        table.add_row(scope, ", ".join(names))
    Console().print(table)
