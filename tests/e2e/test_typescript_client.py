"""Every tool through the official TypeScript MCP client, over stdio and over streamable HTTP.

The TypeScript SDK is the client inside Claude Desktop, Cursor, VS Code and the MCP Inspector, and it
validates more than the Python SDK: structured content against the tool's `outputSchema`, on error
results too. A result it rejects reaches the agent as `MCP error -32602` instead of our message, so this
suite runs the same per-tool cases as test_every_tool.py through it: each tool's success path and one
error path, plus an upstream outage, an unknown outcome, an upstream rate limit and an unknown tool.

Python writes the calls and their expected outcomes as JSON (tests/ts/client.mjs reads them and reports
back). The server is the real `persona-mcp serve` command, against the bundled sandbox served on a
loopback port. The pinned SDK is installed with `npm ci` once per session. Without Node.js or npm these
tests skip with the reason, except under CI (`CI=true`), where they fail: CI must run them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from pydantic import ValidationError

from persona_mcp.auth.scopes import Scope
from persona_mcp.server.app import open_server
from persona_mcp.server.errors import tool_error
from persona_mcp.server.exposure import ExposureOptions
from persona_mcp.server.serving import free_port, serving
from persona_mcp.testing import approvals_waived, issue_grant, sandbox_app, sandbox_settings
from persona_mcp.tools import catalogue
from persona_mcp.tools.recovery import validation_message

from ._cli import PERSONA_MCP, background, server_env, wait_until_answering
from .test_every_tool import (
    FAILURE,
    PREPARE,
    PREPARED,
    SUCCESS,
    TOOLS,
    Invalid,
    NotFound,
    World,
    world_of,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

TS_DIR = Path(__file__).parents[1] / "ts"
SCRIPT = TS_DIR / "client.mjs"
SDK = "@modelcontextprotocol/sdk"
#: Node.js major version the harness is written for (package.json `engines`).
NODE_MAJOR = 20
#: Unknown tools are refused as JSON-RPC "invalid params" (errors.unknown_tool).
INVALID_PARAMS = -32602
#: Tools whose result links a file the client must be able to read back with resources/read.
_PDF = {"mime_type": "application/pdf", "starts_with": "%PDF"}
READS = {"print_inquiry_pdf": _PDF, "print_report_pdf": _PDF, "print_verification_pdf": _PDF}


def _pinned_sdk_version() -> str:
    package = json.loads((TS_DIR / "package.json").read_text())
    version: str = package["dependencies"][SDK]
    return version


def _installed_sdk_version() -> str | None:
    installed = TS_DIR / "node_modules" / SDK / "package.json"
    if not installed.is_file():
        return None
    version: str = json.loads(installed.read_text())["version"]
    return version


def _node_reason() -> tuple[str | None, str | None]:
    """(path of node, None) when the harness can run, else (None, why not)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None, "Node.js and npm are needed for the TypeScript-client tests and are not on PATH"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout
    found = re.match(r"v(\d+)\.", version)
    if found is None or int(found.group(1)) < NODE_MAJOR:
        return None, f"the TypeScript-client tests need Node.js {NODE_MAJOR}+, found {version.strip()!r}"
    if _installed_sdk_version() != _pinned_sdk_version():
        # `npm ci` installs exactly package-lock.json; it also replaces a stale node_modules.
        installed = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=TS_DIR,
            capture_output=True,
            text=True,
            check=False,
        )
        if installed.returncode != 0:
            tail = installed.stderr.strip().splitlines()[-3:]
            return None, f"`npm ci` in tests/ts failed: {' '.join(tail)}"
    return node, None


@pytest.fixture(scope="session")
def node() -> Iterator[str]:
    """Node.js with the pinned SDK installed; skips (fails under CI=true) when that is not possible."""
    path, reason = _node_reason()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: the TypeScript-client tests must run)")
        pytest.skip(reason)
    assert path is not None
    yield path


# -- the plan the script runs --------------------------------------------------------------------------------


def _text_of(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


def _invalid_arguments_text(tool: str, arguments: dict[str, Any]) -> str:
    """The exact text the server sends for arguments its input model refuses (nothing goes upstream)."""
    spec = catalogue.get(tool)
    try:
        spec.input_model.model_validate(arguments)
    except ValidationError as exc:
        return _text_of(tool_error(validation_message(spec, exc), kind="invalid_arguments"))
    raise AssertionError(f"the invalid-arguments case of {tool} is accepted by its input model")


def _tool_calls(world: World) -> list[dict[str, Any]]:
    """Each tool's success case and its failure case from test_every_tool.py."""
    calls: list[dict[str, Any]] = []
    for tool in TOOLS:
        prepare = [PREPARE[tool]] if tool in PREPARE else []
        calls.append(
            {
                "id": f"{tool}/success",
                "tool": tool,
                "arguments": SUCCESS[tool](world),
                "prepare": [{"tool": name, "arguments": args(world)} for name, args in prepare],
                # An argument equal to this stands for the id of the object the prepare step made.
                "prepared_id_placeholder": PREPARED,
                "expect": "success",
                **({"reads": READS[tool]} if tool in READS else {}),
            }
        )
        failure = FAILURE[tool]
        arguments = failure.args(world)
        expected: dict[str, Any]
        if isinstance(failure, Invalid):
            expected = {
                "kind": "invalid_arguments",
                "text": _invalid_arguments_text(tool, arguments),
                "starts_with": f"Invalid arguments for {tool}:",
                "includes": [failure.field],
            }
        else:
            assert isinstance(failure, NotFound)
            expected = {"kind": "not_found", "includes": [failure.missing]}
        calls.append(
            {"id": f"{tool}/error", "tool": tool, "arguments": arguments, "expect": "error", **expected}
        )
    return calls


def _other_failures(world: World) -> list[dict[str, Any]]:
    """Failures that come from upstream or from the server itself rather than from the arguments."""
    return [
        {
            "id": "list_accounts/outage",
            "tool": "list_accounts",
            "arguments": {},
            "faults": {"fail_next": [503]},
            "expect": "error",
            "kind": "upstream_unavailable",
            "includes": ["Persona is unavailable (HTTP 503", "Retrying later is safe."],
        },
        {
            "id": "create_account/outcome-unknown",
            "tool": "create_account",
            "arguments": {"reference_id": "usr-ts-client"},
            "faults": {"fail_next": [500]},
            "expect": "error",
            "kind": "outcome_unknown",
            "includes": ["Whether create_account took effect in Persona is unknown"],
        },
        {
            "id": "get_account/rate-limited",
            "tool": "get_account",
            "arguments": {"account_id": world.account},
            "faults": {"fail_next": [429]},
            "expect": "error",
            "kind": "rate_limited",
            "includes": ["rate limit"],
        },
        {
            "id": "drop_database/unknown-tool",
            "tool": "drop_database",
            "arguments": {},
            "expect": "refusal",
            "code": INVALID_PARAMS,
            "includes": ["Unknown tool: drop_database"],
        },
    ]


# -- servers -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upstream:
    base_url: str  # the sandbox root (its /__sandbox__ controls) ...
    world: World
    data_dir: Path
    token: str

    @property
    def api_url(self) -> str:  # ... and its Persona API
        return f"{self.base_url}/api/v1"

    def server_env(self, instance_id: str) -> dict[str, str]:
        # No retries: the fault cases fail on their first attempt instead of waiting out the backoff.
        env = server_env(self.data_dir, base_url=self.api_url, instance_id=instance_id)
        return env | {"PERSONA_API_MAX_RETRIES": "0", "PERSONA_MCP_APPROVALS_BREAKER_THRESHOLD": "1000000"}


@asynccontextmanager
async def _upstream(tmp_path: Path) -> AsyncIterator[Upstream]:
    """The demo sandbox on a loopback port, a migrated data directory and a grant holding every scope."""
    sandbox = sandbox_app("demo")
    async with serving(sandbox) as base_url:
        data_dir = tmp_path / "data"
        settings = sandbox_settings(data_dir, base_url=f"{base_url}/api/v1")
        async with open_server(settings, instance_id="setup", exposure=ExposureOptions.everything()) as setup:
            # Every tool runs here, so the client's grant waives the four-eyes approvals explicitly.
            token = await issue_grant(
                setup, list(Scope), principal="typescript-client", no_approval=approvals_waived()
            )
        yield Upstream(base_url, world_of(sandbox.state.sandbox), data_dir, token)


async def _run_plan(
    node: str, tmp_path: Path, upstream: Upstream, transport: dict[str, Any]
) -> dict[str, Any]:
    """Run client.mjs on the plan; its JSON summary (the script's last stdout line)."""
    plan = {
        "transport": transport,
        "sandbox": upstream.base_url,
        "tools": TOOLS,
        "calls": _tool_calls(upstream.world) + _other_failures(upstream.world),
    }
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan, indent=1))
    with anyio.fail_after(600):  # a bound on a hang, not a speed assertion
        finished = await anyio.run_process([node, str(SCRIPT), str(plan_file)], check=False)
    stdout, stderr = finished.stdout.decode(), finished.stderr.decode()
    lines = stdout.strip().splitlines()
    assert lines, f"client.mjs printed no summary (exit {finished.returncode}): {stderr[-2000:]}"
    summary: dict[str, Any] = json.loads(lines[-1])
    assert "crashed" not in summary, f"{summary['crashed']}\n{stderr[-2000:]}"
    return summary


def _expected_counts() -> dict[str, int]:
    tools = len(TOOLS)
    return {
        "tools": tools,
        "calls": 2 * tools + len(PREPARE) + 4,
        "successes": tools,
        "errors": tools + 3,
        "refusals": 1,
        "prepared": len(PREPARE),
        "resources": len(READS),
    }


def _assert_clean(summary: dict[str, Any]) -> None:
    failures = "\n".join(f"{f['id']}: {f['message']}" for f in summary["failures"])
    assert summary["failures"] == [], failures
    assert {key: summary[key] for key in _expected_counts()} == _expected_counts()


# -- the tests -----------------------------------------------------------------------------------------------


def test_the_sdk_is_pinned_exactly_and_locked() -> None:
    pinned = _pinned_sdk_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned), f"pin {SDK} to one version, not {pinned!r}"
    lock = json.loads((TS_DIR / "package-lock.json").read_text())
    assert lock["packages"][""]["dependencies"][SDK] == pinned
    assert lock["packages"][f"node_modules/{SDK}"]["version"] == pinned


async def test_over_stdio_every_tool_succeeds_and_fails_in_the_typescript_client_with_our_own_words(
    node: str, tmp_path: Path
) -> None:
    async with _upstream(tmp_path) as upstream:
        env = upstream.server_env("ts-stdio") | {"PERSONA_MCP_TOKEN": upstream.token}
        transport = {
            "kind": "stdio",
            "command": PERSONA_MCP,
            "args": ["serve", "--toolsets", "all", "--log-level", "WARNING"],
            "env": env,
            "log": str(tmp_path / "server.log"),
        }
        summary = await _run_plan(node, tmp_path, upstream, transport)
    _assert_clean(summary)


async def test_over_streamable_http_every_tool_succeeds_and_fails_in_the_typescript_client_with_our_own_words(
    node: str, tmp_path: Path
) -> None:
    async with _upstream(tmp_path) as upstream:
        port = free_port()
        args = (
            "serve",
            "--toolsets",
            "all",
            "--transport",
            "http",
            "--port",
            str(port),
            "--log-level",
            "WARNING",
        )
        env = upstream.server_env("ts-http")
        async with background(*args, env=env, log=tmp_path / "server.log") as process:
            await wait_until_answering(f"http://127.0.0.1:{port}/healthz", process)
            transport = {"kind": "http", "url": f"http://127.0.0.1:{port}/mcp", "token": upstream.token}
            summary = await _run_plan(node, tmp_path, upstream, transport)
    _assert_clean(summary)
