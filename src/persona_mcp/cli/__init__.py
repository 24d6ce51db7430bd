"""`persona-mcp`: one Typer app, one module per command, each imported only when it is invoked.

A desktop client spawns `persona-mcp serve` and waits for its `initialize` answer, and `--help` should
answer at once: neither may pay for the imports of every other command (the audit tables, the demo's
client, the sandbox). So the root group knows each command by module and one-line summary only; the
module is imported when the command runs or its own `--help` is asked for. A test keeps the summaries
equal to the commands' own help.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup
from typer.main import get_command, get_group


@dataclass(frozen=True, slots=True)
class LazyCommand:
    """A command the root group lists by name and summary; `module.app` is its Typer app or function."""

    name: str
    module: str
    summary: str

    def load(self) -> Any:
        """The command as Click sees it, imported now."""
        target = importlib.import_module(f"persona_mcp.cli.{self.module}").app
        command: Any
        if isinstance(target, typer.Typer):
            command = get_group(target)
        else:
            single = typer.Typer(add_completion=False)
            single.command(name=self.name)(target)
            command = get_command(single)
        command.name = self.name
        return command


COMMANDS: tuple[LazyCommand, ...] = (
    LazyCommand("serve", "serve", "Serve the Persona tools over MCP."),
    LazyCommand(
        "sandbox",
        "sandbox",
        "Run the Persona sandbox (an emulator of Persona's API for tests and demos; no real verifications).",
    ),
    LazyCommand(
        "demo", "demo", "Run the server against the bundled Persona sandbox and show a scripted session."
    ),
    LazyCommand(
        "tools",
        "tools",
        "List the tool catalogue, the scopes that open each tool, and regenerate docs/tools.md.",
    ),
    LazyCommand(
        "grants",
        "grants",
        "Grants: which tools a principal may call, in which Persona environment, until when.",
    ),
    LazyCommand(
        "credentials",
        "credentials",
        "Upstream Persona credentials (API keys, OAuth clients, access tokens), encrypted at rest.",
    ),
    LazyCommand("webhooks", "webhooks", "Connect Persona webhooks to this server's verified receiver."),
    LazyCommand("audit", "audit", "Inspect, verify and export the tamper-evident audit log."),
    LazyCommand("db", "db", "Database schema management."),
)


class _Placeholder(TyperCommand):
    """Stands in the root listing for a command not imported yet."""

    def __init__(self, lazy: LazyCommand) -> None:
        super().__init__(name=lazy.name, help=lazy.summary, short_help=lazy.summary)
        self.lazy = lazy


class _LazyGroup(TyperGroup):
    """The root group: lists placeholders, swaps in the real command once one is chosen."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for lazy in COMMANDS:
            self.add_command(_Placeholder(lazy), lazy.name)

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if isinstance(command, _Placeholder):
            command = command.lazy.load()
            self.commands[command.name] = command
        return name, command, rest


app = typer.Typer(
    name="persona-mcp",
    help="MCP server for the Persona API: typed tools, least-privilege grants, tamper-evident audit log.",
    cls=_LazyGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root() -> None:
    """MCP server for the Persona API: typed tools, least-privilege grants, tamper-evident audit log."""


def main() -> None:
    app()
