"""Client configurations people paste: Claude Desktop (stdio), Cursor and VS Code (streamable HTTP).

Written once here and used by `persona-mcp demo --serve` (with the demo's real URL and token) and by the
client section of docs/configuration.md (with placeholders), so what the docs show is what the tests
start a server from. Each client spells the same thing differently: Claude Desktop spawns a command and
finds nothing on a login shell's `PATH`, so the command is absolute; Cursor takes `url` and `headers`
under `mcpServers`; VS Code wants `servers` with `type: http` and asks for the token through `inputs`,
so it never sits in a file that might be committed.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Name of the server entry in every configuration.
SERVER_NAME = "persona-sandbox"

#: The VS Code input that prompts for the grant token; the header refers to it as `${input:...}`.
VSCODE_TOKEN_INPUT = "persona-mcp-token"


@dataclass(frozen=True, slots=True)
class StdioLaunch:
    """What a desktop client spawns: an absolute command, its arguments and its whole environment."""

    command: str
    args: tuple[str, ...]
    env: dict[str, str]


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """One block to paste: which client, which file, the JSON itself."""

    client: str
    where: str
    body: dict[str, Any]

    def json(self) -> str:
        return json.dumps(self.body, indent=2)


def installed_command() -> tuple[str, tuple[str, ...]]:
    """The absolute `persona-mcp` of this installation (the console script next to the interpreter).

    Desktop clients start servers with a minimal `PATH`, so a bare `persona-mcp` is not found; where the
    script is missing (a source checkout run with `python -m`), the interpreter runs the module instead.
    """
    interpreter = Path(sys.executable)
    script = interpreter.with_name("persona-mcp")
    if script.is_file():
        return str(script), ("serve",)
    return str(interpreter), ("-m", "persona_mcp.cli", "serve")


def claude_desktop(launch: StdioLaunch) -> ClientConfig:
    entry = {"command": launch.command, "args": list(launch.args), "env": dict(launch.env)}
    return ClientConfig("Claude Desktop", "claude_desktop_config.json", {"mcpServers": {SERVER_NAME: entry}})


def cursor(url: str, token: str) -> ClientConfig:
    entry = {"url": url, "headers": {"Authorization": f"Bearer {token}"}}
    return ClientConfig(
        "Cursor", ".cursor/mcp.json or ~/.cursor/mcp.json", {"mcpServers": {SERVER_NAME: entry}}
    )


def vscode(url: str) -> ClientConfig:
    token_input = {
        "type": "promptString",
        "id": VSCODE_TOKEN_INPUT,
        "description": "persona-mcp grant token (pmcp_...)",
        "password": True,
    }
    entry = {
        "type": "http",
        "url": url,
        "headers": {"Authorization": f"Bearer ${{input:{VSCODE_TOKEN_INPUT}}}"},
    }
    return ClientConfig(
        "VS Code", ".vscode/mcp.json", {"inputs": [token_input], "servers": {SERVER_NAME: entry}}
    )


def client_configs(launch: StdioLaunch, url: str, token: str) -> list[ClientConfig]:
    """Every client's configuration for one server: stdio for Claude Desktop, HTTP for the others."""
    return [claude_desktop(launch), cursor(url, token), vscode(url)]


def sandbox_launch(
    command: str, args: tuple[str, ...], *, token: str, api_key: str, sandbox_api: str, data_dir: str
) -> StdioLaunch:
    """The stdio server of the demo: the demo's grant, its sandbox, its data directory.

    Its own audit instance id, because the demo's HTTP server already writes as the data directory's
    default instance, and a starting instance settles the open intents of its own id.
    """
    return StdioLaunch(
        command=command,
        args=args,
        env={
            "PERSONA_MCP_TOKEN": token,
            "PERSONA_API_KEY": api_key,
            "PERSONA_API_BASE_URL": sandbox_api,
            "PERSONA_MCP_ENVIRONMENT": "sandbox",
            "PERSONA_MCP_DATA_DIR": data_dir,
            "PERSONA_MCP_AUDIT_INSTANCE_ID": "demo-desktop",
        },
    )


#: Placeholders for the documentation: replace them with your install path, your server and your grant.
DOC_COMMAND = "/home/you/.venv/bin/persona-mcp"
DOC_URL = "http://127.0.0.1:8000/mcp"
DOC_TOKEN = "pmcp_..."
DOC_DATA_DIR = "/home/you/.local/share/persona-mcp/demo"
DOC_SANDBOX_API = "http://127.0.0.1:8780/api/v1"
DOC_SANDBOX_KEY = "persona_sandbox_demo"


def docs_section() -> str:
    """The client section of docs/configuration.md, with placeholders where the demo has real values."""
    launch = sandbox_launch(
        DOC_COMMAND,
        ("serve",),
        token=DOC_TOKEN,
        api_key=DOC_SANDBOX_KEY,
        sandbox_api=DOC_SANDBOX_API,
        data_dir=DOC_DATA_DIR,
    )
    parts = [
        "`persona-mcp demo --serve` prints these three blocks with its real URL, token and paths; a test",
        "starts a server from each printed block with `PATH=/usr/bin:/bin` (tests/test_client_configs.py).",
        f"Replace `{DOC_COMMAND}` with the output of `which persona-mcp` (an absolute path: desktop",
        f"clients do not search your shell's `PATH`), `{DOC_TOKEN}` with a grant token, and the URL with",
        "your server's `/mcp` URL. Against a real Persona organization, drop `PERSONA_API_BASE_URL` and",
        "`PERSONA_MCP_AUDIT_INSTANCE_ID` and give your key (or stored credentials, see credentials.md).",
    ]
    for config in client_configs(launch, DOC_URL, DOC_TOKEN):
        parts += ["", f"**{config.client}** (`{config.where}`):", "", "```json", config.json(), "```"]
    return "\n".join(parts) + "\n"
