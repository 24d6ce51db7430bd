"""The floor the benchmarks measure persona-mcp against: the SDK's low-level `Server` with two tools that
make one sandbox request each and return Persona's JSON as text and structured content (no grant, no
validation, no audit). `throughput.py` serves it over streamable HTTP, `peer.py` over stdio.

Given output schemas (persona-mcp's, as its `tools/list` declares them), the same floor declares them
and answers with structured content that matches them: a client then does for its results the work it
does for persona-mcp's (the SDK's `Client` compiles a validator for each tool's output schema once per
session and checks every result against it), which on a machine the clients share with the servers
tells the client's share of the difference from the server's.

Given a `commit` (`durable_log`), the floor also keeps the audit's durability promises at their least:
one small row committed durably before a create's POST (the intent) and one after each answer (the
outcome), each awaited, on the event loop, alone. It stands for no design: it is the price of the
promises themselves on this machine's disk or database, so that persona-mcp's latency can be read
against what any server keeping them must pay (issue 18)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
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
    commit: Callable[[str], Awaitable[None]] | None = None,
) -> Server[Any]:
    """`get_account`: one GET; `create_account`: one POST with an Idempotency-Key. With `output_schemas`
    (by tool name), the tools declare them and the structured content is shaped to match; with `commit`,
    a create's intent is committed before its POST and every call's outcome before its answer."""
    headers = {"Authorization": f"Bearer {key}", **PERSONA_HEADERS}
    schemas = dict(output_schemas or {})
    tools = [tool.model_copy(update={"output_schema": schemas.get(tool.name)}) for tool in TOOLS]

    async def on_list_tools(_ctx: Any, _params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def on_call_tool(_ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        arguments = params.arguments or {}
        if commit is not None and params.name == "create_account":
            await commit(json.dumps({"kind": "intent", "tool": params.name, "arguments": arguments}))
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
        if commit is not None:
            outcome = {"kind": "outcome", "tool": params.name, "status": response.status_code}
            await commit(json.dumps(outcome))
        schema = schemas.get(params.name)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=response.text)],
            structured_content=document if schema is None else _structured(document, schema),
        )

    return Server("bare", on_list_tools=on_list_tools, on_call_tool=on_call_tool)


@asynccontextmanager
async def open_bare_server(
    sandbox_url: str,
    key: str,
    *,
    timeout_s: float,
    output_schemas: Mapping[str, Mapping[str, Any]] | None = None,
    commit_to: str | None = None,
) -> AsyncIterator[Server[Any]]:
    """`bare_server` with its upstream client open and, with `commit_to`, its `durable_log`; both closed
    on exit. How every benchmark serves it, over stdio or HTTP."""
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx2.AsyncClient(timeout=timeout_s))
        commit = None if commit_to is None else await stack.enter_async_context(durable_log(commit_to))
        yield bare_server(sandbox_url, key, http, output_schemas, commit)


@asynccontextmanager
async def durable_log(url: str) -> AsyncIterator[Callable[[str], Awaitable[None]]]:
    """A `commit` for `bare_server`: each call appends one row to a table of its own and returns once it
    is durable. `url` is an SQLite file path (WAL, `synchronous=FULL`: the store's settings, one fsync a
    commit, on the loop like persona-mcp's lone inline commit) or a `postgresql://` URL (autocommit,
    PostgreSQL's defaults, over psycopg's asynchronous connection: one round trip a row)."""
    if url.startswith("postgresql://"):
        import psycopg

        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute(_CREATE.format(key="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"))

            async def commit_postgresql(body: str) -> None:
                await conn.execute(_INSERT.format(marker="%s"), (body,))

            yield commit_postgresql
        return
    lite = sqlite3.connect(url, isolation_level=None, check_same_thread=False)
    try:
        lite.execute("PRAGMA journal_mode=WAL")
        lite.execute("PRAGMA synchronous=FULL")
        lite.execute(_CREATE.format(key="INTEGER PRIMARY KEY"))

        async def commit_sqlite(body: str) -> None:
            lite.execute("BEGIN IMMEDIATE")
            lite.execute(_INSERT.format(marker="?"), (body,))
            lite.execute("COMMIT")

        yield commit_sqlite
    finally:
        lite.close()


_CREATE = "CREATE TABLE IF NOT EXISTS bare_durable_log (seq {key}, body TEXT NOT NULL)"
_INSERT = "INSERT INTO bare_durable_log (body) VALUES ({marker})"
