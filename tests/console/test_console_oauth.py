"""Signing in to the console through the built-in authorization server, over HTTP on a real socket: the
console is a PKCE client of the server's own /authorize and /token, the consent page signs the person in
and narrows the scopes, and the console's own checks apply to what the token holds."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from persona_mcp.audit import AuditEvent
from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.config import AuthMode
from persona_mcp.server.console.app import SIGNIN_FAILURES_ALLOWED
from persona_mcp.server.console.sessions import FLOW_COOKIE, SESSION_COOKIE
from persona_mcp.testing import issue_grant

from ._support import Running, console_server, csrf_of, person_grant, through_consent

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def browser(running: Running) -> AsyncIterator[httpx2.AsyncClient]:
    """A cookie-keeping client that follows redirects; `http.seen` lists every response, redirects too."""
    seen: list[httpx2.Response] = []

    async def keep(response: httpx2.Response) -> None:
        seen.append(response)

    async with httpx2.AsyncClient(
        base_url=running.base, timeout=30, follow_redirects=True, event_hooks={"response": [keep]}
    ) as http:
        http.seen = seen  # type: ignore[attr-defined]
        yield http


async def _records(running: Running, kind: str) -> list[AuditEvent]:
    return [r async for r in iter_records(running.app.store, AuditFilter(kind=kind))]


async def test_a_person_signs_in_through_the_consent_page_and_gets_what_both_grant_and_ticks_allow(
    tmp_path: Path, database_url: str
) -> None:
    async with console_server(tmp_path, database_url=database_url) as running, browser(running) as http:
        token = await person_grant(
            running.app, "rita@example.com", ["audit:read", "console:admin", "accounts:read"]
        )
        page = await through_consent(http, token, untick=("console:admin",))
        # Back on the console, signed in, on the audit pages: audit:read was given.
        assert page.status_code == 200 and page.url.path == "/console/audit", page.text
        assert "rita@example.com" in page.text
        seen: list[httpx2.Response] = http.seen  # type: ignore[attr-defined]
        hops = [(r.request.method, r.url.path, r.status_code) for r in seen]
        assert hops == [
            ("GET", "/console/signin", 200),
            ("POST", "/console/oauth/start", 303),
            ("GET", "/authorize", 302),
            ("GET", "/oauth/consent", 200),
            ("POST", "/oauth/consent", 200),  # signed in with the grant token: the scopes to allow
            ("POST", "/oauth/consent", 303),  # allowed: back to the console with the code
            ("GET", "/console/oauth/callback", 303),
            ("GET", "/console", 307),
            ("GET", "/console/", 303),
            ("GET", "/console/audit", 200),
        ]
        # The grant holds console:admin but the person unticked it: the token, so the console, does not.
        admin = await http.get("/console/admin/grants")
        assert admin.status_code == 403 and "admin scope" in admin.text
        (signed_in,) = await _records(running, "admin.console.signed_in")
        grant_id = signed_in.target
        assert signed_in.actor == f"rita@example.com (console, grant {grant_id})"
        assert signed_in.details["method"] == "authorization server"
        assert signed_in.details["scopes"] == ["audit:read"]
        (consent,) = await _records(running, "admin.oauth.consent_given")
        assert consent.details["client_id"] == signed_in.details["client_id"]
        assert consent.details["grant_id"] == grant_id and consent.details["scopes"] == ["audit:read"]
        # The cookies of the flow keep the console's rules: HttpOnly, SameSite=Strict, not Secure on
        # loopback; and the token itself is never handed to the browser.
        # The consent page's own form posts must carry a real Origin (the Host/Origin guard refuses
        # `Origin: null`, which browsers send under "no-referrer"); nothing goes beyond this server.
        consent_pages = [r for r in seen if r.url.path == "/oauth/consent"]
        assert {r.headers["referrer-policy"] for r in consent_pages} == {"same-origin"}
        set_cookies = [h for r in seen for h in r.headers.get_list("set-cookie")]
        flow = next(c for c in set_cookies if c.startswith(f"{FLOW_COOKIE}=") and "Max-Age=0" not in c)
        session = next(c for c in set_cookies if c.startswith(f"{SESSION_COOKIE}="))
        for cookie in (flow, session):
            assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Secure" not in cookie
        assert not any("pmat_" in c or "pmrt_" in c for c in set_cookies)


async def test_a_person_who_did_not_tick_the_scope_a_page_needs_is_refused_as_always(tmp_path: Path) -> None:
    async with console_server(tmp_path) as running, browser(running) as http:
        token = await person_grant(running.app, "ann", ["audit:read", "console:admin"])
        page = await through_consent(http, token, untick=("audit:read",))
        assert page.url.path == "/console/admin/grants", "console:admin only: the admin pages"
        refused = await http.get("/console/audit")
        assert refused.status_code == 403 and "audit:read" in refused.text


async def test_signing_out_revokes_the_token_family_and_is_audited_with_the_person_as_actor(
    tmp_path: Path, database_url: str
) -> None:
    async with console_server(tmp_path, database_url=database_url) as running, browser(running) as http:
        token = await person_grant(running.app, "rita", ["audit:read"])
        page = await through_consent(http, token)
        assert page.url.path == "/console/audit"
        (signed_in,) = await _records(running, "admin.console.signed_in")
        family = signed_in.details["family_id"]
        assert running.app.authorization is not None
        assert await running.app.authorization.family_live(family)
        out = await http.post("/console/signout", data={"csrf": csrf_of(page.text)})
        assert out.url.path == "/console/signin"
        assert not await running.app.authorization.family_live(family)
        (signed_out,) = await _records(running, "admin.console.signed_out")
        assert signed_out.actor == signed_in.actor and signed_out.details["method"] == "authorization server"
        (revoked,) = await _records(running, "admin.oauth.token_revoked")
        assert revoked.target == family and revoked.actor == signed_in.actor


async def test_revoking_the_consoles_client_ends_its_sessions_and_turns_the_button_off(
    tmp_path: Path,
) -> None:
    async with console_server(tmp_path) as running, browser(running) as http:
        token = await person_grant(running.app, "rita", ["audit:read"])
        assert (await through_consent(http, token)).url.path == "/console/audit"
        (signed_in,) = await _records(running, "admin.console.signed_in")
        assert running.app.authorization is not None
        await running.app.authorization.clients.revoke(signed_in.details["client_id"], actor="admin")
        assert (await http.get("/console/audit")).url.path == "/console/signin"
        signin = await http.get("/console/signin")
        again = await http.post("/console/oauth/start", data={"csrf": csrf_of(signin.text)})
        assert again.status_code == 403 and "turned off" in again.text
        # The grant token still signs in.
        form = await http.get("/console/signin")
        by_token = await http.post("/console/signin", data={"token": token, "csrf": csrf_of(form.text)})
        assert by_token.url.path == "/console/audit"


async def test_an_answer_without_this_browsers_state_is_refused_and_its_code_left_unredeemed(
    tmp_path: Path,
) -> None:
    """Login CSRF: an attacker's own code, sent to a victim's browser, must not sign the victim in as the
    attacker. The victim has no sign-in under way, or one with another state; both are refused."""
    async with console_server(tmp_path) as running:
        attacker_token = await person_grant(running.app, "mallory", ["audit:read"])
        async with browser(running) as attacker:
            signin = await attacker.get("/console/signin")
            started = await attacker.post(
                "/console/oauth/start", data={"csrf": csrf_of(signin.text)}, follow_redirects=False
            )
            state = parse_qs(urlsplit(started.headers["location"]).query)["state"][0]
            consent = await attacker.get(started.headers["location"])
            from ._support import first_form

            page = await attacker.post(
                "/oauth/consent", data=first_form(consent.text) | {"grant_token": attacker_token}
            )
            answer = await attacker.post(
                "/oauth/consent",
                data=first_form(page.text) | {"decision": "allow", "scope": ["audit:read"]},
                follow_redirects=False,
            )
            callback = answer.headers["location"]
            assert parse_qs(urlsplit(callback).query)["state"] == [state]
        async with browser(running) as victim:
            no_flow = await victim.get(callback)
            assert no_flow.status_code == 403 and SESSION_COOKIE not in victim.cookies
            signin = await victim.get("/console/signin")
            await victim.post(
                "/console/oauth/start", data={"csrf": csrf_of(signin.text)}, follow_redirects=False
            )
            other_state = await victim.get(callback)
            assert other_state.status_code == 403 and SESSION_COOKIE not in victim.cookies
        reasons = [r.details["reason"] for r in await _records(running, "admin.console.signin_refused")]
        assert reasons == ["no sign-in under way in this browser", "state mismatch"]
        assert await _records(running, "admin.oauth.token_issued") == [], "the code was never redeemed"


async def test_an_agents_grant_cannot_sign_in_to_the_console_through_the_consent_page(tmp_path: Path) -> None:
    async with console_server(tmp_path) as running, browser(running) as http:
        agent_token = await issue_grant(running.app, ["audit:read"], principal="bot")
        page = await through_consent(http, agent_token)
        assert page.status_code == 401 and "belongs to an agent" in page.text
        assert SESSION_COOKIE not in http.cookies
        (refused,) = await _records(running, "admin.console.signin_refused")
        assert refused.details["reason"] == "agent grant" and agent_token not in json.dumps(refused.details)
        (revoked,) = await _records(running, "admin.oauth.token_revoked")
        assert running.app.authorization is not None
        assert not await running.app.authorization.family_live(revoked.target)


async def test_a_denied_consent_comes_back_to_the_sign_in_page_and_is_audited(tmp_path: Path) -> None:
    async with console_server(tmp_path) as running, browser(running) as http:
        token = await person_grant(running.app, "rita", ["audit:read"])
        page = await through_consent(http, token, decision="deny")
        assert page.status_code == 401 and page.url.path == "/console/oauth/callback"
        assert "not allowed to sign you in" in page.text and SESSION_COOKIE not in http.cookies
        (refused,) = await _records(running, "admin.console.signin_refused")
        assert refused.details["reason"] == "authorization server answered access_denied"


async def test_without_the_built_in_authorization_server_there_is_no_button(tmp_path: Path) -> None:
    async with console_server(tmp_path, auth=AuthMode.GRANT_TOKENS) as running, browser(running) as http:
        signin = await http.get("/console/signin")
        assert signin.status_code == 200 and "Sign in with persona-mcp" not in signin.text
        assert "oauth-signin" not in signin.text
        start = await http.post("/console/oauth/start", data={"csrf": csrf_of(signin.text)})
        assert start.status_code == 404
        assert (await http.get("/console/oauth/callback?code=x&state=y")).status_code == 404


async def test_with_the_built_in_authorization_server_the_sign_in_page_offers_the_button(
    tmp_path: Path,
) -> None:
    async with console_server(tmp_path) as running, browser(running) as http:
        signin = await http.get("/console/signin")
        assert 'id="oauth-signin-submit"' in signin.text and "Sign in with persona-mcp" in signin.text
        forged = await http.post("/console/oauth/start", data={"csrf": "not-the-token"})
        assert forged.status_code == 403 and forged.url.path == "/console/oauth/start"
        assert running.app.authorization is not None


async def test_answers_sent_to_the_callback_from_elsewhere_are_throttled_like_failed_sign_ins(
    tmp_path: Path,
) -> None:
    async with console_server(tmp_path) as running, browser(running) as http:
        for _ in range(SIGNIN_FAILURES_ALLOWED):
            assert (await http.get("/console/oauth/callback?code=c&state=s")).status_code == 403
        assert (await http.get("/console/oauth/callback?code=c&state=s")).status_code == 429
        refused = await _records(running, "admin.console.signin_refused")
        assert len(refused) == SIGNIN_FAILURES_ALLOWED, "a blocked address writes nothing more"
