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
    LazyCommand("tools", "tools", "List the tool catalogue and the scopes that open each tool."),
    LazyCommand(
        "docs",
        "docs",
        "Regenerate the generated files: docs/tools.md, the scope table, tool snapshots, client configs.",
    ),
    LazyCommand(
        "grants",
        "grants",
        "Grants: which tools a principal may call, in which Persona environment, until when.",
    ),
    LazyCommand(
        "clients",
        "clients",
        "OAuth clients registered with the built-in authorization server: register, list and revoke.",
    ),
    LazyCommand(
        "credentials",
        "credentials",
        "Upstream Persona credentials (API keys, OAuth clients, access tokens), encrypted at rest.",
    ),
    LazyCommand(
        "approvals", "approvals", "Approvals: calls held until a person other than the caller approves them."
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


def _is_cli_control(exc: BaseException) -> bool:
    """Usage errors, exits and aborts of Click and Typer: they print and exit in their own way."""
    return type(exc).__module__.startswith(("click.", "typer."))


class _LazyGroup(TyperGroup):
    """The root group: lists placeholders, swaps in the real command once one is chosen."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for lazy in COMMANDS:
            self.add_command(_Placeholder(lazy), lazy.name)

    def invoke(self, ctx: Any) -> Any:
        """Run the command; a failure becomes one line and an exit status (see `main`), unless --debug."""
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if _debug or _is_cli_control(exc):
                raise
            from persona_mcp.cli.failures import report

            raise typer.Exit(report(exc)) from None

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


_debug = False


@app.callback()
def _root(
    debug: bool = typer.Option(
        False, "--debug", help="Show the full traceback of an error instead of its one-line summary."
    ),
) -> None:
    """MCP server for the Persona API: typed tools, least-privilege grants, tamper-evident audit log."""
    global _debug
    _debug = debug


def main() -> None:
    """Run the CLI; an operator's mistake ends in one line with its fix and exit status 2.

    Any other failure is one line too, with exit status 1; `--debug` shows the traceback instead.
    """
    try:
        app()
    except Exception as exc:
        if _debug:
            raise
        from persona_mcp.cli.failures import report

        raise SystemExit(report(exc)) from None
