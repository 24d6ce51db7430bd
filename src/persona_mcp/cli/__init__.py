"""`persona-mcp`: one Typer app, one module per command group.

Groups are imported lazily by name so that `persona-mcp sandbox` does not pay for the server's imports
and a group still under construction cannot break the others.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="persona-mcp",
    help="MCP server for the Persona API: typed tools, least-privilege grants, tamper-evident audit log.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

#: (module, attribute, name): a Typer sub-app (group) or a single command function.
_GROUPS: tuple[tuple[str, str], ...] = (
    ("serve", "serve"),
    ("sandbox", "sandbox"),
    ("demo", "demo"),
    ("tools", "tools"),
    ("grants", "grants"),
    ("credentials", "credentials"),
    ("audit", "audit"),
    ("db", "db"),
)


def _register() -> None:
    for module_name, name in _GROUPS:
        try:
            module = importlib.import_module(f"persona_mcp.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"persona_mcp.cli.{module_name}":
                continue
            raise
        target = module.app
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=name)
        else:
            app.command(name=name)(target)


_register()


def main() -> None:
    app()
