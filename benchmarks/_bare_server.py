"""The floor the benchmarks measure persona-mcp against: the SDK's low-level `Server` with two tools that
make one sandbox request each and return Persona's JSON as text and structured content (no grant, no
validation, no audit). `throughput.py` serves it over streamable HTTP, `peer.py` over stdio."""

from __future__ import annotations

import uuid
from typing import Any

import httpx2
import mcp_types as types
from mcp.server.lowlevel import Server

PERSONA_HEADERS = {"Persona-Version": "2025-12-08", "Key-Inflection": "kebab"}

_STRING = {"type": "string"}
TOOLS = [
    types.Tool(
        name="get_account",
        description="Read one account.",
        input_schema={"type": "object", "properties": {"account_id": _STRING}, "required": ["account_id"]},
    ),
    types.Tool(
        name="create_account",
        description="Create an account.",
        input_schema={
            "type": "object",
            "properties": {"reference_id": _STRING},
            "required": ["reference_id"],
        },
    ),
]


def bare_server(sandbox_url: str, key: str, http: httpx2.AsyncClient) -> Server[Any]:
    """`get_account`: one GET; `create_account`: one POST with an Idempotency-Key."""
    headers = {"Authorization": f"Bearer {key}", **PERSONA_HEADERS}

    async def on_list_tools(_ctx: Any, _params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=TOOLS)

    async def on_call_tool(_ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        arguments = params.arguments or {}
        if params.name == "get_account":
            response = await http.get(
                f"{sandbox_url}/api/v1/accounts/{arguments['account_id']}", headers=headers
            )
        else:
            response = await http.post(
                f"{sandbox_url}/api/v1/accounts",
                json={"data": {"attributes": {"reference-id": arguments["reference_id"]}}},
                headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
            )
        response.raise_for_status()
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=response.text)], structured_content=response.json()
        )

    return Server("bare", on_list_tools=on_list_tools, on_call_tool=on_call_tool)
