"""The floor the benchmarks measure persona-mcp against: the SDK's low-level `Server` with two tools that
make one sandbox request each and return Persona's JSON as text and structured content (no grant, no
validation, no audit). `throughput.py` serves it over streamable HTTP, `peer.py` over stdio.

Given output schemas (persona-mcp's, as its `tools/list` declares them), the same floor declares them
and answers with structured content that matches them: a client then does for its results the work it
does for persona-mcp's (the SDK's `Client` compiles a validator for each tool's output schema once per
session and checks every result against it), which on a machine the clients share with the servers
tells the client's share of the difference from the server's."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
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


def _structured(document: dict[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """The resource's id and type and those of its attributes the schema names, under its (snake_case)
    names: a flat view as persona-mcp answers, without its masking or its model."""
    data = document["data"]
    named = schema.get("properties", {})
    view: dict[str, Any] = {"id": data["id"], "type": data["type"]}
    for key, value in data.get("attributes", {}).items():
        name = key.replace("-", "_")
        if name in named and value is not None:
            view[name] = value
    return view


def bare_server(
    sandbox_url: str,
    key: str,
    http: httpx2.AsyncClient,
    output_schemas: Mapping[str, Mapping[str, Any]] | None = None,
) -> Server[Any]:
    """`get_account`: one GET; `create_account`: one POST with an Idempotency-Key. With `output_schemas`
    (by tool name), the tools declare them and the structured content is shaped to match."""
    headers = {"Authorization": f"Bearer {key}", **PERSONA_HEADERS}
    schemas = dict(output_schemas or {})
    tools = [tool.model_copy(update={"output_schema": schemas.get(tool.name)}) for tool in TOOLS]

    async def on_list_tools(_ctx: Any, _params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

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
        document = response.json()
        schema = schemas.get(params.name)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=response.text)],
            structured_content=document if schema is None else _structured(document, schema),
        )

    return Server("bare", on_list_tools=on_list_tools, on_call_tool=on_call_tool)
