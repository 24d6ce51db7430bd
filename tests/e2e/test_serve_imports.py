"""`persona-mcp serve` loads no code for features that are switched off or not visited yet.

Every module a process imports costs it start-up time and memory for as long as it runs (issue 18), so
optional features are imported where they are switched on, and the HTTP server's pages (the console, the
consent page) with their first visit, never by the serving path itself. Checked on the real command,
over stdio and over streamable HTTP, driven by the SDK's client through a read and a write against the
sandbox: the child runs with `PYTHONPROFILEIMPORTTIME`, so its stderr names each module as it is
imported, including those the stack imports on its worker thread (a module loaded by
`importlib.import_module` itself is not named, its own imports are: hence prefixes). The speed and the
memory themselves are `benchmarks/cold_start.py`'s and `benchmarks/throughput.py`'s figures, never a
test's.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from persona_mcp.server.app import open_server
from persona_mcp.server.serving import free_port, serving
from persona_mcp.testing import issue_grant, sandbox_app, sandbox_settings

from ._cli import PERSONA_MCP, background, server_env, wait_until_answering

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

#: Off in this set-up (a SQLite store already at head, an API key, no console, no OTLP endpoint, no
#: HTTP authentication), each with what would switch it on.
SWITCHED_OFF = {
    "alembic": "a migration pending",
    "mako": "a migration pending (Alembic's templates)",
    "psycopg": "a PostgreSQL store",
    "authlib": "an OAuth credential asking for a token",
    "joserfc": "an OAuth credential, or external JWTs over HTTP",
    "jinja2": "the console or the consent page (HTTP)",
    "opentelemetry.sdk": "OTEL_EXPORTER_OTLP_ENDPOINT",
    "opentelemetry.exporter": "OTEL_EXPORTER_OTLP_ENDPOINT",
    "persona_mcp.server.console": "the console (HTTP)",
    "persona_mcp.auth.oauth": "the built-in authorization server (HTTP)",
    "persona_mcp.auth.jwt": "external JWTs (HTTP)",
    "persona_mcp.sandbox": "the sandbox commands",
}

#: Over HTTP with the built-in authorization server and the console on (as shipped), until a person
#: visits a page: what loads each of these.
NOT_VISITED = {
    "jinja2": "the console's or the consent page's first page",
    "persona_mcp.server.console": "the console's first request",
    "joserfc": "an upstream OpenID Connect sign-in configured (or external JWTs, an OAuth credential)",
    "persona_mcp.auth.oauth.upstream": "an upstream OpenID Connect sign-in configured",
}

_IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)\s*$", re.MULTILINE)


def _imported(log: Path) -> set[str]:
    return set(_IMPORT_LINE.findall(log.read_text(errors="replace")))


def _switched_off(loaded: set[str], off: dict[str, str] = SWITCHED_OFF) -> dict[str, str]:
    """Each package of `off` some module of which was loaded, with what would load it."""
    return {
        prefix: reason
        for prefix, reason in off.items()
        if any(name == prefix or name.startswith(prefix + ".") for name in loaded)
    }


async def _create_and_read(client: Client, reference_id: str) -> None:
    """The serving path's two kinds of call: a write (intent, outcome) and a read of what it made."""
    created = await client.call_tool("create_account", {"reference_id": reference_id})
    assert not created.is_error, created.content
    account_id = created.structured_content["id"]  # type: ignore[index]
    read = await client.call_tool("get_account", {"account_id": account_id})
    assert not read.is_error, read.content


async def test_serving_a_read_and_a_write_over_stdio_imports_no_switched_off_feature(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with serving(sandbox_app("demo")) as sandbox_url:
        base_url = f"{sandbox_url}/api/v1"
        async with open_server(sandbox_settings(data_dir, base_url=base_url), instance_id="setup") as setup:
            token = await issue_grant(setup, ["accounts:read", "accounts:write"])
        env = server_env(data_dir, base_url=base_url, instance_id="imports", token=token)
        env["PYTHONPROFILEIMPORTTIME"] = "1"
        log = tmp_path / "serve.stderr"
        with log.open("w") as errlog, anyio.fail_after(120):
            params = StdioServerParameters(command=PERSONA_MCP, args=["serve"], env=env)
            async with Client(stdio_client(params, errlog=errlog)) as client:
                listed = {tool.name for tool in (await client.list_tools()).tools}
                assert {"create_account", "get_account"} <= listed
                await _create_and_read(client, "imports-1")
                loaded = _imported(log)
    # The log is read: the stack, its store and the tools were imported and show up in it.
    assert {
        "sqlalchemy",
        "persona_mcp.server.pipeline",
        "persona_mcp.audit.writer",
        "persona_mcp.tools",
    } <= loaded
    assert _switched_off(loaded) == {}


async def test_serving_over_http_imports_neither_the_pages_nor_upstream_sign_in_until_a_page_is_visited(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with serving(sandbox_app("demo")) as sandbox_url:
        base_url = f"{sandbox_url}/api/v1"
        settings = sandbox_settings(data_dir, base_url=base_url)
        async with open_server(
            settings, transport="http", resource_url=f"{base}/mcp", instance_id="setup"
        ) as setup:
            token = await issue_grant(setup, ["accounts:read", "accounts:write"])
        env = server_env(data_dir, base_url=base_url, instance_id="imports")
        env["PYTHONPROFILEIMPORTTIME"] = "1"
        log = tmp_path / "serve.stderr"
        args = ["serve", "--transport", "http", "--host", "127.0.0.1", "--port", str(port)]
        async with background(*args, env=env, log=log) as process:
            await wait_until_answering(f"{base}/healthz", process)
            headers = {"Authorization": f"Bearer {token}"}
            with anyio.fail_after(120):
                async with (
                    httpx2.AsyncClient(headers=headers, timeout=30) as http,
                    Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
                ):
                    await _create_and_read(client, "imports-http-1")
            served = _imported(log)
            # The built-in authorization server and the console are on: their metadata is served.
            async with httpx2.AsyncClient(base_url=base, timeout=30) as http:
                metadata = await http.get("/.well-known/oauth-authorization-server")
                assert metadata.status_code == 200
                served_metadata = _imported(log)
                page = await http.get("/console/", follow_redirects=True)
                assert page.status_code == 200 and "<html" in page.text.lower()
            visited = _imported(log)
    assert {"persona_mcp.auth.oauth.provider", "persona_mcp.server.consent", "persona_mcp.tools"} <= served
    # Over HTTP the built-in authorization server is on; everything else stdio leaves off stays off too.
    off = {name: why for name, why in SWITCHED_OFF.items() if name != "persona_mcp.auth.oauth"} | NOT_VISITED
    assert _switched_off(served, off) == {}
    assert _switched_off(served_metadata, off) == {}
    # The console, visited, loads its pages and Jinja2 then: the check above can fail.
    assert {"jinja2", "persona_mcp.server.console"} <= _switched_off(visited, NOT_VISITED).keys()


def test_the_import_log_names_a_switched_off_module_when_one_is_loaded(tmp_path: Path) -> None:
    """The check above can fail: the same parsing finds Alembic in a process that migrates."""
    log = tmp_path / "migrate.stderr"
    with log.open("w") as errlog:
        subprocess.run(
            [
                sys.executable,
                "-X",
                "importtime",
                "-c",
                "from persona_mcp.store import migrate; migrate.alembic_config()",
            ],
            stderr=errlog,
            check=True,
            timeout=120,
        )
    assert "alembic" in _switched_off(_imported(log))
