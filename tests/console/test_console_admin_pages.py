"""The console's admin pages and what every page is made of: grants with their expiry and last use, a
grants.toml applied with the person as actor, a `Secure` session cookie off loopback, and pages that load
nothing from anywhere but this server."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from persona_mcp.audit.query import AuditFilter, iter_records, last_recorded_at
from persona_mcp.server.app import open_server
from persona_mcp.server.console.sessions import SESSION_COOKIE
from persona_mcp.server.run import http_app_for
from persona_mcp.testing import issue_grant, sandbox_settings

from ._support import console_server, csrf_of, person_grant, sign_in

pytestmark = pytest.mark.anyio

#: Every attribute through which a page makes the browser load or send something.
LOADING_ATTRIBUTES = re.compile(r'\b(src|href|action|srcset|data|poster)="([^"]*)"', re.IGNORECASE)
STATIC_DIR = Path(__file__).resolve().parents[2] / "src/persona_mcp/server/console/static"


async def test_the_grants_list_shows_each_grants_expiry_and_last_use(tmp_path: Path) -> None:
    async with console_server(tmp_path) as running:
        expires = datetime(2099, 1, 2, 3, 4, tzinfo=UTC)
        used = await issue_grant(running.app, ["accounts:read"], principal="agent-used", expires_at=expires)
        await issue_grant(running.app, ["accounts:read"], principal="agent-idle")
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {used}"}, timeout=30) as agent:
            async with Client(streamable_http_client(running.mcp, http_client=agent)) as client:
                await client.call_tool("list_accounts", {"page_size": 1})
        used_grant = (await running.app.callers.resolve(used)).grant  # type: ignore[union-attr]
        idle_grant = next(g for g in await running.app.grants.list_all() if g.principal == "agent-idle")
        last_use = await last_recorded_at(running.app.store, used_grant.id)
        assert last_use is not None
        async with httpx2.AsyncClient(base_url=running.base, timeout=30, follow_redirects=True) as http:
            await sign_in(http, await person_grant(running.app, "ada", ["console:admin"]))
            page = (await http.get("/console/admin/grants")).text

        def cells(grant_id: str) -> dict[str, str]:
            row = page.split(f'id="grant-{grant_id}"')[1].split("</tr>")[0]
            return {
                "expires": row.split('<td class="expires">')[1].split("<")[0],
                "last use": row.split('<td class="last-use">')[1].split("<")[0],
            }

        assert "<th>expires</th><th>last use</th>" in page
        assert cells(used_grant.id) == {"expires": "2099-01-02 03:04Z", "last use": last_use}
        assert cells(idle_grant.id) == {"expires": "never", "last use": "never"}
        calls = [r async for r in iter_records(running.app.store, AuditFilter(grant_id=used_grant.id))]
        assert calls and str(calls[-1].timestamp) == last_use, "last use is the grant's newest record"


async def test_a_grants_toml_applied_in_the_console_is_recorded_with_the_person_as_actor(
    tmp_path: Path,
) -> None:
    toml = (
        'source = "console-test"\n[grants.reviewer-bot]\nprincipal = "bot-r"\n'
        'environment = "sandbox"\nscopes = ["accounts:read"]\n'
    )
    async with console_server(tmp_path) as running:
        async with httpx2.AsyncClient(base_url=running.base, timeout=30, follow_redirects=True) as http:
            await sign_in(http, await person_grant(running.app, "ada", ["console:admin"]))
            page = await http.get("/console/admin/plan")
            planned = await http.post(
                "/console/admin/plan", data={"grants_toml": toml, "apply": "0", "csrf": csrf_of(page.text)}
            )
            await http.post(
                "/console/admin/plan", data={"grants_toml": toml, "apply": "1", "csrf": csrf_of(planned.text)}
            )
        (grant,) = [g for g in await running.app.grants.list_all() if g.principal == "bot-r"]
        changes = [
            r
            async for r in iter_records(running.app.store, AuditFilter())
            if r.kind.startswith("admin.grant") and r.target == grant.id
        ]
        assert [r.kind for r in changes] == ["admin.grant.created"]
        assert changes[0].actor is not None and changes[0].actor.startswith("ada (console, grant ")


async def test_off_loopback_the_session_cookie_is_secure(tmp_path: Path) -> None:
    """Served under a public name over https (as behind a TLS proxy), every cookie the console sets
    carries `Secure`, so a browser never sends the session over plain HTTP."""
    public = "https://console.example.com"
    settings = sandbox_settings(tmp_path)
    async with open_server(settings, transport="http", resource_url=f"{public}/mcp") as app:
        asgi = http_app_for(app, settings, f"{public}/mcp", "0.0.0.0")
        token = await person_grant(app, "rita", ["audit:read"])
        async with httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=asgi), base_url=public, timeout=30
        ) as http:
            signin_page = await http.get("/console/signin")
            assert signin_page.status_code == 200, signin_page.text
            presession = signin_page.headers["set-cookie"]
            signed_in = await http.post(
                "/console/signin", data={"token": token, "csrf": csrf_of(signin_page.text)}
            )
            assert signed_in.status_code == 303, signed_in.text
            session = next(
                c for c in signed_in.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}=")
            )
            for cookie in (presession, session):
                flags = {part.strip().lower() for part in cookie.split(";")}
                assert {"secure", "httponly", "samesite=strict"} <= flags, cookie


async def test_pages_load_nothing_from_outside_the_server_and_its_stylesheet_is_served_locally(
    tmp_path: Path,
) -> None:
    """No CDN: every address a page makes the browser load (stylesheets, scripts, images, links, form
    targets) is a path on this server, and the files it names are served from the package. There is no
    script at all (plain forms, no htmx), so no script file is shipped either."""
    async with console_server(tmp_path) as running:
        await issue_grant(running.app, ["accounts:read"], principal="agent-a")
        token = await person_grant(
            running.app, "ada", ["console:admin", "audit:read", "audit:all_environments", "approvals:decide"]
        )
        async with httpx2.AsyncClient(base_url=running.base, timeout=30, follow_redirects=True) as http:
            pages = [await http.get("/console/signin")]
            await sign_in(http, token)
            for path in (
                "/console/audit",
                "/console/audit/verify",
                "/console/admin/grants",
                "/console/admin/plan",
                "/console/admin/credentials",
                "/console/approvals",
            ):
                pages.append(await http.get(path))
            assets: set[str] = set()
            for page in pages:
                assert page.status_code == 200, page.url
                assert "<script" not in page.text.lower(), f"{page.url} has a script"
                assert "@import" not in page.text and "url(" not in page.text
                for attribute, address in LOADING_ATTRIBUTES.findall(page.text):
                    assert address.startswith(("/", "?", "#")) and not address.startswith("//"), (
                        f"{page.url}: {attribute}={address!r} is not a path on this server"
                    )
                    if attribute.lower() in ("src", "href") and "/static/" in address:
                        assets.add(address)
            assert assets == {"/console/static/console.css"}
            css = await http.get("/console/static/console.css")
            assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
            assert css.content == (STATIC_DIR / "console.css").read_bytes()
            assert "url(" not in css.text and "@import" not in css.text, "the stylesheet loads nothing"
        assert sorted(p.name for p in STATIC_DIR.iterdir()) == ["console.css"]
