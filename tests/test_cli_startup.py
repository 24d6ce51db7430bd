"""The CLI starts without the server stack: each command imports its own module only when it runs.

Checked in a fresh interpreter (this test process has long since imported everything), by the modules
present in `sys.modules`, never by a stopwatch: the speed itself is `benchmarks/cold_start.py`'s figure.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from persona_mcp.cli import COMMANDS, LazyCommand, app

#: What the stdio server, the audit log and the tools need, and `--help` does not.
HEAVY = ("sqlalchemy", "mcp.server", "mcp", "httpx2", "persona_mcp.tools", "persona_mcp.server", "alembic")

CLI_DIR = Path(__file__).parents[1] / "src" / "persona_mcp" / "cli"


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_importing_the_cli_imports_none_of_the_server_stack() -> None:
    loaded = _modules_after("import persona_mcp.cli")
    assert [name for name in HEAVY if name in loaded] == []


def test_the_root_help_lists_every_command_without_importing_the_server_stack() -> None:
    loaded = _modules_after(
        "import contextlib, io, sys\n"
        "sys.argv = ['persona-mcp', '--help']\n"
        "from persona_mcp.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main()"
    )
    assert [name for name in HEAVY if name in loaded] == []
    assert not any(name.startswith("persona_mcp.cli.") for name in loaded - {"persona_mcp.cli.__main__"})


def test_the_root_help_names_every_command_with_its_summary() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    for command in COMMANDS:
        assert command.name in result.output
        assert command.summary in result.output


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command.name)
def test_each_listed_summary_is_the_commands_own_help(command: LazyCommand) -> None:
    loaded = command.load()
    own = " ".join((loaded.help or "").split("\n\n")[0].split())
    assert own == command.summary, f"update the summary of {command.name} in persona_mcp/cli/__init__.py"


def test_every_command_module_is_listed() -> None:
    modules = {
        path.stem
        for path in CLI_DIR.glob("*.py")
        if not path.stem.startswith("_")
        and ("\napp = " in path.read_text() or "\ndef app(" in path.read_text())
    }
    assert modules == {command.module for command in COMMANDS}


def test_a_command_runs_through_its_lazily_loaded_module() -> None:
    result = CliRunner().invoke(app, ["tools", "scopes", "--json"])
    assert result.exit_code == 0, result.output
    assert "accounts:read" in json.loads(result.output)
    result = CliRunner().invoke(app, ["db", "--help"])
    assert result.exit_code == 0 and "upgrade" in result.output


def test_a_mistyped_command_is_answered_with_the_closest_name() -> None:
    result = CliRunner().invoke(app, ["serv"])
    assert result.exit_code == 2
    assert "serve" in result.output


def test_the_stdio_server_module_imports_only_what_a_bare_sdk_server_does() -> None:
    """`mcp` itself brings httpx2 (its client); the bare server pays for that too."""
    loaded = _modules_after("import persona_mcp.cli.serve, persona_mcp.server.stdio")
    stack = ("sqlalchemy", "persona_mcp.tools", "persona_mcp.store", "persona_mcp.audit", "alembic")
    assert [name for name in stack if name in loaded] == []


def test_the_http_server_listens_before_importing_the_tool_catalogue_or_the_pipeline() -> None:
    """`run_http` opens the core (store, audit log, token checks) and answers `initialize` on it; the
    catalogue and the pipeline are imported on a worker thread meanwhile (issue 18, cold start)."""
    loaded = _modules_after("import persona_mcp.cli.serve, persona_mcp.server.run")
    assert "persona_mcp.server.core" in loaded and "persona_mcp.server.front" in loaded
    later = ("persona_mcp.tools.", "persona_mcp.server.app", "persona_mcp.server.pipeline")
    assert sorted(name for name in loaded if name.startswith(later)) == []


def test_serving_imports_no_rich_and_the_cli_still_draws_its_tables_with_it() -> None:
    """structlog imports `rich`, when installed, for a console renderer's tracebacks the server never
    uses (~40 ms of every start, before `initialize`; issue 18): `persona_mcp.logs` imports structlog
    with `rich` hidden. The commands that draw tables import it themselves afterwards."""
    serving = (
        "import persona_mcp.cli.serve\n"
        "from persona_mcp.logs import configure_logging\n"
        "configure_logging('WARNING')\n"
        "import persona_mcp.server.run, persona_mcp.server.stdio, persona_mcp.server.app\n"
    )
    loaded = _modules_after(serving)
    assert "structlog" in loaded
    assert sorted(name for name in loaded if name.split(".")[0] == "rich") == []
    assert "rich.table" in _modules_after(serving + "import rich.table")
