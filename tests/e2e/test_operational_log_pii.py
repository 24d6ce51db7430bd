"""Personal data sent in tool arguments never reaches the operational log (stderr of `persona-mcp serve`).

The audit log digests personal values; the operational log must not undo that. Every read tool in the
catalogue is called through a real `persona-mcp serve` child process (over stdio, and over HTTP), logging as
`serve` sets it up, against the sandbox served over HTTP. Every string argument carries a canary: a
personal-looking value (an e-mail address or a name, marker `zqpii`) wherever the schema lets one in, or
an id-shaped value (marker `zqid`) where only an id fits. The sandbox records what it received, so the
test knows each canary did go upstream (in a query filter, a path or a search body); then the child's
stderr is scanned:

- no personal canary may appear anywhere;
- an id canary may appear only as the `path` of the client's own `persona.*` events (Persona ids are not
  personal data: the audit log keeps them in clear), never in a URL, query string or library message.

A second pass puts a personal canary into every argument, ids included: id-shaped arguments refuse it
before anything is sent, and the refusal is not logged with the value either.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from persona_mcp.auth.scopes import Scope
from persona_mcp.server.app import open_server
from persona_mcp.server.serving import free_port, serving
from persona_mcp.testing import issue_grant, sandbox_app, sandbox_settings
from persona_mcp.tools import CATALOGUE
from persona_mcp.tools.mcp_schema import input_schema
from persona_mcp.tools.registry import AnySpec

from ._cli import PERSONA_MCP, background, server_env, wait_until_answering

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

PII, ID = "zqpii", "zqid"
READ_TOOLS = [spec for spec in CATALOGUE if not spec.is_write]


class Canaries:
    """Unique canary values, each matching the argument's schema."""

    def __init__(self) -> None:
        self._serial = count(1)

    def personal(self) -> list[str]:
        n = next(self._serial)
        return [f"jane.{PII}{n}@example.com", f"Jane {PII}{n} Doe", f"{PII}-jane-doe-{n}", f"{PII}_jane_{n}"]

    def for_string(self, schema: dict[str, Any]) -> str | None:
        """A canary `schema` accepts: personal if any fits, else id-shaped; None for enums and dates."""
        if "enum" in schema or "format" in schema:
            return None
        pattern = schema.get("pattern")
        longest = schema.get("maxLength", 1000)
        candidates = self.personal() + [f"{prefix}_{ID}{next(self._serial)}" for prefix in _prefixes(pattern)]
        candidates += [f"{PII}.jane-doe"]  # an event-name shape (family.action, letters only)
        candidates += [f"{PII}_jane_doe"]  # a status shape (lowercase and underscores: wait_for_*)
        for candidate in candidates:
            if len(candidate) <= longest and (pattern is None or re.fullmatch(pattern, candidate)):
                return candidate
        raise AssertionError(f"no canary fits {schema}: extend Canaries so every string argument gets one")


def _prefixes(pattern: str | None) -> list[str]:
    """Id prefixes a pattern like `^(?:libf|lidf)_[A-Za-z0-9]{1,64}$` or `^[a-z]{2,12}_...` allows."""
    if pattern is None:
        return []
    alternatives = re.match(r"\^(?:\(\?:)?([a-z|]+)\)?_", pattern)
    return alternatives.group(1).split("|")[:1] if alternatives else ["act"]


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        return {**root["$defs"][ref.split("/")[-1]], **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _value(schema: dict[str, Any], root: dict[str, Any], canaries: Canaries) -> Any:
    schema = _resolve(schema, root)
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("format") == "date-time":
        return "2024-01-01T00:00:00Z"
    variants = schema.get("anyOf")
    if variants:
        strings = [v for v in variants if v.get("type") == "string"]
        return _value(strings[0] if strings else variants[0], root, canaries)
    kind = schema.get("type")
    if kind == "string":
        return canaries.for_string(schema)
    if kind == "array":
        return [_value(schema["items"], root, canaries)]
    if kind == "object":
        return _object(schema, root, canaries)
    return None  # numbers and booleans keep their defaults


def _object(schema: dict[str, Any], root: dict[str, Any], canaries: Canaries) -> dict[str, Any]:
    out = {}
    for name, sub in schema.get("properties", {}).items():
        value = _value(sub, root, canaries)
        if value is not None:
            out[name] = value
    return out


def canary_arguments(spec: AnySpec, canaries: Canaries) -> dict[str, Any]:
    """Every argument of `spec` that takes a string filled with a canary (enums: their first value)."""
    schema = input_schema(spec)
    return _object(schema, schema, canaries)


def _string_leaves(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _string_leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _string_leaves(item)


@dataclass
class RecordingUpstream:
    """The sandbox, remembering every request's decoded path, query string and body."""

    app: Any
    seen: list[str] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        parts = [unquote(scope["path"]), unquote(scope["query_string"].decode())]
        index = len(self.seen)
        self.seen.append(" ".join(parts))

        async def recording_receive() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                parts.append(message.get("body", b"").decode(errors="replace"))
                self.seen[index] = " ".join(parts)
            return message

        await self.app(scope, recording_receive, send)


@asynccontextmanager
async def mcp_server(transport: str, env: dict[str, str], log: Path, *args: str) -> AsyncIterator[Client]:
    """`persona-mcp serve` in a child process (stderr to `log`) and an SDK client connected to it."""
    if transport == "stdio":
        with log.open("w") as errlog:
            params = StdioServerParameters(command=PERSONA_MCP, args=["serve", *args], env=env)
            async with Client(stdio_client(params, errlog=errlog)) as client:
                yield client
        return
    port = free_port()
    serve = ("serve", "--transport", "http", "--port", str(port), *args)
    async with background(*serve, env=env, log=log) as process:
        await wait_until_answering(f"http://127.0.0.1:{port}/healthz", process)
        headers = {"Authorization": f"Bearer {env['PERSONA_MCP_TOKEN']}"}
        async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
            url = f"http://127.0.0.1:{port}/mcp"
            async with Client(streamable_http_client(url, http_client=http)) as client:
                yield client


def leaks(stderr: str) -> list[str]:
    """Lines of `stderr` that show a personal canary, or an id canary outside a `persona.*` path."""
    found = []
    for line in stderr.splitlines():
        if PII in line.lower():
            found.append(line)
            continue
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if isinstance(event, dict) and str(event.get("event", "")).startswith("persona."):
            event.pop("path", None)
            line = json.dumps(event)
        if ID in line.lower():
            found.append(line)
    return found


@pytest.mark.parametrize(
    ("transport", "log_level"),
    [("stdio", None), ("stdio", "DEBUG"), ("http", "DEBUG")],
    ids=["stdio-as-serve-defaults", "stdio-debug", "http-debug"],
)
async def test_no_canary_from_any_filter_or_path_of_any_read_tool_reaches_the_servers_stderr(
    tmp_path: Path, transport: str, log_level: str | None
) -> None:
    upstream = RecordingUpstream(sandbox_app("demo"))
    scopes = {spec.scope for spec in READ_TOOLS} | {Scope.PII_READ}
    canaries = Canaries()
    async with serving(upstream) as sandbox_url:
        base_url = f"{sandbox_url}/api/v1"
        data_dir = tmp_path / "data"
        async with open_server(sandbox_settings(data_dir, base_url=base_url), instance_id="setup") as setup:
            token = await issue_grant(setup, scopes, principal="log-scan")
        env = server_env(data_dir, base_url=base_url, instance_id="log-scan", token=token)
        # Every read tool, so every toolset: a served server offers only the default ones unasked.
        args = ("--toolsets", "all", *(("--log-level", log_level) if log_level else ()))
        sent_upstream: dict[str, list[str]] = {}
        async with mcp_server(transport, env, tmp_path / "serve.log", *args) as client:
            for spec in READ_TOOLS:
                arguments = canary_arguments(spec, canaries)
                before = len(upstream.seen)
                result = await client.call_tool(spec.name, arguments)
                error = (result.meta or {}).get("persona-mcp/error") or {}
                # Only a refusal after Persona answered (a made-up cursor nothing follows) may remain.
                went_up = len(upstream.seen) > before
                assert error.get("kind") != "invalid_arguments" or went_up, (spec.name, arguments, error)
                if spec.operations:
                    received = " ".join(upstream.seen[before:])
                    canaries_sent = [v for v in _string_leaves(arguments) if PII in v or ID in v]
                    sent_upstream[spec.name] = [v for v in canaries_sent if v in received]
                    assert sent_upstream[spec.name] == canaries_sent, f"{spec.name}: not every canary went up"

            for spec in READ_TOOLS:
                arguments = canary_arguments(spec, canaries)
                email = canaries.personal()[0]
                swapped = [n for n, v in arguments.items() if isinstance(v, str) and (PII in v or ID in v)]
                before = len(upstream.seen)
                result = await client.call_tool(spec.name, {**arguments, **dict.fromkeys(swapped, email)})
                if any(ID in arguments[name] for name in swapped):
                    error = (result.meta or {}).get("persona-mcp/error") or {}
                    assert error.get("kind") == "invalid_arguments", (spec.name, error)
                    assert upstream.seen[before:] == [], f"{spec.name}: sent upstream despite a refused id"

    stderr = (tmp_path / "serve.log").read_text()
    assert "server ready" in stderr, "the child's log was captured"
    # Canaries went upstream in query filters, paths and search bodies of every tool reaching Persona.
    assert set(sent_upstream) == {spec.name for spec in READ_TOOLS if spec.operations}
    assert leaks(stderr) == []
