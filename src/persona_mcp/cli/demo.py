"""`persona-mcp demo`: the sandbox, the server and a real MCP client, wired together on loopback.

Without a Persona key: the bundled sandbox (seed data) stands in for Persona, the server runs over
streamable HTTP against it, a grant is created, and a scripted session goes through the SDK's real
client (create account, create inquiry, approve, tag, list events), each call printed as a table; the
inquiry approval, a decision, waits for the demo's reviewer to approve it (four eyes), then runs once.
`--serve` keeps everything running and prints the configuration to paste into a client instead.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import anyio
import httpx2
import mcp_types as types
import typer
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from rich.console import Console
from rich.table import Table

from persona_mcp.audit.verify import verify_log
from persona_mcp.cli.client_configs import client_configs, installed_command, sandbox_launch
from persona_mcp.config import default_data_dir
from persona_mcp.logs import configure_logging
from persona_mcp.sandbox import DEFAULT_API_KEY
from persona_mcp.sandbox.seed import DEMO_TEMPLATE_ID
from persona_mcp.server.app import open_server
from persona_mcp.server.run import http_app_for
from persona_mcp.server.serving import free_port, serving
from persona_mcp.testing import issue_grant, sandbox_app, sandbox_settings

#: The demo agent may work accounts and inquiries and decide them, but not see personal data.
DEMO_SCOPES = ("accounts:write", "inquiries:write", "inquiries:decide", "events:read")

console = Console(stderr=False)


def app(
    serve: Annotated[
        bool, typer.Option("--serve", help="Keep sandbox and server running for a real client.")
    ] = False,
    port: Annotated[int, typer.Option(help="Port of the MCP server (0 = any free port).")] = 0,
    sandbox_port: Annotated[int, typer.Option(help="Port of the Persona sandbox (0 = any free port).")] = 0,
) -> None:
    """Run the server against the bundled Persona sandbox and show a scripted session."""
    configure_logging("WARNING")
    if serve:
        data_dir = default_data_dir() / "demo"
        anyio.run(_main, data_dir, True, port, sandbox_port)
        return
    data_dir = Path(tempfile.mkdtemp(prefix="persona-mcp-demo-"))
    try:
        anyio.run(_main, data_dir, False, port, sandbox_port)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


async def _main(data_dir: Path, serve: bool, port: int, sandbox_port: int) -> None:
    async with serving(sandbox_app("demo"), sandbox_port or free_port()) as sandbox_url:
        settings = sandbox_settings(data_dir, base_url=f"{sandbox_url}/api/v1")
        mcp_port = port or free_port()
        resource = f"http://127.0.0.1:{mcp_port}/mcp"
        async with open_server(
            settings, transport="http", resource_url=resource, log_startup_warnings=False
        ) as server:
            token = await issue_grant(server, DEMO_SCOPES, principal="demo-agent")
            async with serving(http_app_for(server, settings, resource, "127.0.0.1"), mcp_port):
                if serve:
                    _print_client_config(resource, token, sandbox_url, data_dir)
                    await anyio.sleep_forever()
                reviewer = await server.review.approver("demo-reviewer", admin=True)

                async def approve(approval_id: str) -> None:
                    await server.review.decide(
                        approval_id, reviewer, approve=True, reason="reviewed in the demo"
                    )
                    console.print(f"[bold]{approval_id}[/] approved by a reviewer (four eyes)")

                await _scripted_session(resource, token, approve)
                report = await verify_log(server.store, trusted_keys=[server.audit.public_key])
                verdict = "[green]verified[/]" if report.ok else f"[red]BROKEN at seq {report.first_break}[/]"
                console.print(
                    f"[bold]audit:[/] {report.records} records, hash chain and checkpoints {verdict}"
                )


#: Called with (tool, arguments, result) after each step of the workflow.
StepObserver = Callable[[str, dict[str, Any], types.CallToolResult], None]


#: Approves a held call by its approval id (a person other than the agent, e.g. the demo's reviewer).
Approver = Callable[[str], Awaitable[None]]


async def run_workflow(client: Client, observe: StepObserver, approve: Approver | None = None) -> None:
    """The demo's scripted session: create account, create inquiry, approve, tag, list events.

    Approving an inquiry is a decision, which waits for a person's approval: with `approve`, the held
    call is approved and repeated (it then runs once); without, the held answer is shown and the session
    goes on. Shared by the demo and by the stdio/HTTP session tests, so the demo a newcomer sees is tested.
    """

    async def step(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = await client.call_tool(tool, arguments)
        observe(tool, arguments, result)
        if result.is_error:
            raise DemoStepFailed(tool)
        data = result.structured_content
        data = data if isinstance(data, dict) else {}
        if data.get("type") == "approval" and approve is not None:
            await approve(str(data["id"]))
            return await step(tool, arguments)
        return data

    account = await step(
        "create_account", {"reference_id": "demo-user-1", "name_first": "Ada", "name_last": "Lovelace"}
    )
    inquiry = await step(
        "create_inquiry",
        {"account_id": account["id"], "inquiry_template_id": DEMO_TEMPLATE_ID, "reference_id": "demo-1"},
    )
    await step("approve_inquiry", {"inquiry_id": inquiry["id"], "comment": "Checked in the demo"})
    await step("add_inquiry_tag", {"inquiry_id": inquiry["id"], "tag_name": "demo"})
    await step("list_events", {"object_id": inquiry["id"], "page_size": 10})


class DemoStepFailed(Exception):
    """A workflow step answered with a tool error (already printed)."""


async def _scripted_session(url: str, token: str, approve: Approver) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            listed = await client.list_tools()
            console.print(
                f"[bold]persona-mcp demo[/]: connected to {url}; the grant opens {len(listed.tools)} tools"
            )
            try:
                await run_workflow(client, _print_step, approve)
            except DemoStepFailed:
                raise typer.Exit(1) from None


def _print_step(tool: str, arguments: dict[str, Any], result: types.CallToolResult) -> None:
    data: dict[str, Any] = result.structured_content if isinstance(result.structured_content, dict) else {}
    table = Table(title=f"{tool}({json.dumps(arguments)})", title_justify="left", show_header=True)
    table.add_column("field", style="cyan")
    table.add_column("value", overflow="fold")
    for key, value in _rows(data):
        table.add_row(key, value)
    if result.is_error:
        table.add_row("error", " ".join(getattr(block, "text", "") for block in result.content))
    console.print(table)


def _rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in data.items():
        if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            for index, item in enumerate(value):
                summary = ", ".join(f"{k}={v}" for k, v in item.items() if v not in (None, [], {}))
                rows.append((f"{key}[{index}]", summary[:160]))
        elif value not in (None, [], {}):
            rows.append((key, json.dumps(value) if not isinstance(value, str) else value))
    return rows


def _print_client_config(resource: str, token: str, sandbox_url: str, data_dir: Path) -> None:
    command, args = installed_command()
    launch = sandbox_launch(
        command,
        args,
        token=token,
        api_key=DEFAULT_API_KEY,
        sandbox_api=f"{sandbox_url}/api/v1",
        data_dir=str(data_dir),
    )
    console.print(
        f"[bold]Sandbox[/] {sandbox_url}   [bold]MCP (streamable HTTP)[/] {resource}", soft_wrap=True
    )
    console.print(
        f"\n[bold]HTTP clients[/]: URL above, header  Authorization: Bearer {token}", soft_wrap=True
    )
    for config in client_configs(launch, resource, token):
        console.print(f"\n[bold]{config.client}[/] ({config.where}):")
        typer.echo(config.json())  # plain text: no wrapping or colour in what people paste
    console.print("\nThe grant token is a demo sandbox grant. Ctrl-C stops both servers.", style="dim")
    sys.stdout.flush()
