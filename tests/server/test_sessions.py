"""The demo workflow as real clients run it: over stdio (a subprocess) and streamable HTTP (a socket).

Every result is validated against the output schema the server itself lists for the tool.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx2
import jsonschema
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from persona_mcp.cli.demo import DEMO_SCOPES, run_workflow
from persona_mcp.sandbox import DEFAULT_API_KEY
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.server.app import open_server
from persona_mcp.server.run import http_app_for
from persona_mcp.server.serving import free_port, serving
from persona_mcp.testing import issue_grant, sandbox_app, sandbox_settings

pytestmark = pytest.mark.anyio

WORKFLOW = ["create_account", "create_inquiry", "approve_inquiry", "add_inquiry_tag", "list_events"]


class _SchemaChecked:
    """Collects each step and checks its structured content against the listed output schema."""

    def __init__(self, tools: list[types.Tool]) -> None:
        self.schemas = {tool.name: tool.output_schema for tool in tools}
        self.steps: list[str] = []

    def __call__(self, tool: str, arguments: dict[str, Any], result: types.CallToolResult) -> None:
        assert not result.is_error, (tool, result.content)
        schema = self.schemas[tool]
        assert schema is not None, f"{tool} lists no output schema"
        jsonschema.validate(result.structured_content, schema)
        self.steps.append(tool)


async def _grant_token(env: dict[str, str]) -> str:
    command = [sys.executable, "-m", "persona_mcp.cli", "grants", "create", "--principal", "stdio-agent"]
    command += ["--env", "sandbox", "--scopes", ",".join(DEMO_SCOPES), "--json"]
    done = await anyio.run_process(command, env=env)
    token: str = json.loads(done.stdout)["token"]
    return token


@pytest.mark.slow
async def test_the_demo_workflow_runs_over_stdio_with_schema_valid_results(tmp_path: Path) -> None:
    async with serving(sandbox_app("demo")) as sandbox_url:
        env = {
            **os.environ,
            "PERSONA_MCP_DATA_DIR": str(tmp_path),
            "PERSONA_API_BASE_URL": f"{sandbox_url}/api/v1",
            "PERSONA_API_KEY": DEFAULT_API_KEY,
            "PERSONA_MCP_ENVIRONMENT": "sandbox",
        }
        env.pop("PERSONA_MCP_DATABASE_URL", None)
        env["PERSONA_MCP_TOKEN"] = await _grant_token(env)
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "persona_mcp.cli", "serve"], env=env, cwd=str(tmp_path)
        )
        async with Client(params, read_timeout_seconds=60) as client:
            checked = _SchemaChecked((await client.list_tools()).tools)
            await run_workflow(client, checked)
    assert checked.steps == WORKFLOW


async def test_the_demo_workflow_runs_over_streamable_http_with_schema_valid_results(tmp_path: Path) -> None:
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    settings = sandbox_settings(tmp_path)
    async with open_server(
        settings,
        transport="http",
        resource_url=resource,
        persona_transport=SandboxTransport(sandbox_app("demo")),
    ) as app:
        token = await issue_grant(app, DEMO_SCOPES)
        async with serving(http_app_for(app, settings, resource, "127.0.0.1"), port):
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
                async with Client(streamable_http_client(resource, http_client=http)) as client:
                    checked = _SchemaChecked((await client.list_tools()).tools)
                    await run_workflow(client, checked)
    assert checked.steps == WORKFLOW
