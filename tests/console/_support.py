"""A real persona-mcp HTTP server for console tests, and the audit history a reviewer asks about.

The server runs on a loopback socket in its own thread and event loop, so synchronous browser drivers
(Selenium) and async HTTP clients can both talk to it; `run` executes a coroutine on the server's loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import html
import re
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from persona_mcp.auth.environment import Environment
from persona_mcp.auth.grant import GrantDraft, PrincipalKind
from persona_mcp.auth.scopes import parse_scopes
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.server.app import PersonaMcp, open_server
from persona_mcp.server.run import http_app_for
from persona_mcp.server.serving import free_port, serving
from persona_mcp.testing import issue_grant, sandbox_app, sandbox_settings

T = TypeVar("T")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')
CHECKBOX = re.compile(r'<input type="checkbox" name="scope" value="([^"]+)"( checked)?>')


@dataclass
class Running:
    base: str
    app: PersonaMcp
    loop: asyncio.AbstractEventLoop

    @property
    def mcp(self) -> str:
        return f"{self.base}/mcp"

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the server's loop (from another thread) and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=120)


@asynccontextmanager
async def console_server(tmp_path: Path, **settings_update: Any) -> AsyncIterator[Running]:
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    settings = sandbox_settings(tmp_path).model_copy(update=settings_update)
    async with open_server(
        settings,
        transport="http",
        resource_url=resource,
        persona_transport=SandboxTransport(sandbox_app("demo")),
    ) as app:
        asgi = http_app_for(app, settings, resource, "127.0.0.1")
        async with serving(asgi, port) as base:
            yield Running(base=base, app=app, loop=asyncio.get_running_loop())


@contextmanager
def console_server_thread(tmp_path: Path) -> Iterator[Running]:
    """The server in a thread of its own, for synchronous drivers."""
    ready: concurrent.futures.Future[Running] = concurrent.futures.Future()
    stop = threading.Event()

    async def main() -> None:
        try:
            async with console_server(tmp_path) as running:
                ready.set_result(running)
                while not stop.is_set():
                    await asyncio.sleep(0.05)
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    try:
        yield ready.result(timeout=60)
    finally:
        stop.set()
        thread.join(timeout=30)


async def person_grant(app: PersonaMcp, principal: str, scopes: list[str], **extra: Any) -> str:
    draft = GrantDraft(
        principal=principal,
        environment=extra.pop("environment", Environment.SANDBOX),
        scopes=parse_scopes(scopes),
        principal_kind=PrincipalKind.PERSON,
        **extra,
    )
    return (await app.grants.create(draft, actor="test")).token


@dataclass
class History:
    """What agent X did to account Y: the calls a reviewer is asked about."""

    agent: str
    account_id: str
    allowed_calls: int
    denied_calls: int
    other_account_id: str


async def agent_history(running: Running, *, agent: str = "agent-x", reads: int = 3) -> History:
    """An agent with read-only access reads an account several times, then is denied two writes to it,
    and reads another account: the reviewer's question has a precise answer."""
    token = await issue_grant(running.app, ["accounts:read"], principal=agent)
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        async with Client(streamable_http_client(running.mcp, http_client=http)) as client:
            listed = await client.call_tool("list_accounts", {"page_size": 2})
            accounts = (listed.structured_content or {})["items"]
            account_id, other = accounts[0]["id"], accounts[1]["id"]
            for _ in range(reads):
                await client.call_tool("get_account", {"account_id": account_id})
            for _ in range(2):
                # Outside the grant: refused (an MCP error over HTTP), and recorded as a denial.
                with contextlib.suppress(MCPError):
                    await client.call_tool(
                        "update_account", {"account_id": account_id, "reference_id": "x-1"}
                    )
            await client.call_tool("get_account", {"account_id": other})
    return History(agent, account_id, reads, 2, other)


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


async def sign_in(http: httpx2.AsyncClient, token: str) -> httpx2.Response:
    page = await http.get("/console/signin")
    return await http.post("/console/signin", data={"token": token, "csrf": csrf_of(page.text)})


def first_form(page: str) -> dict[str, str]:
    """The hidden fields of the first form of a page (the consent page's sign-in or decision form)."""
    form = page[: page.index("</form>")]
    return {name: html.unescape(value) for name, value in HIDDEN.findall(form)}


async def through_consent(
    http: httpx2.AsyncClient,
    grant_token: str,
    *,
    tick: tuple[str, ...] = (),
    untick: tuple[str, ...] = (),
    decision: str = "allow",
) -> httpx2.Response:
    """A person presses "Sign in with persona-mcp" on the console's sign-in page, signs in on the consent
    page with their grant token and answers it; `http` follows redirects, so this is the page the
    browser ends on (the console, or its sign-in page with an error)."""
    signin = await http.get("/console/signin")
    consent = await http.post("/console/oauth/start", data={"csrf": csrf_of(signin.text)})
    assert consent.status_code == 200 and consent.url.path == "/oauth/consent", consent.text
    page = await http.post("/oauth/consent", data=first_form(consent.text) | {"grant_token": grant_token})
    assert page.status_code == 200, page.text
    ticked = {name for name, on in CHECKBOX.findall(page.text) if on} | set(tick)
    body: dict[str, Any] = first_form(page.text) | {
        "decision": decision,
        "scope": sorted(ticked - set(untick)),
    }
    return await http.post("/oauth/consent", data=body)
