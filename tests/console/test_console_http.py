"""The console over HTTP on a real socket: sign-in, what each grant may see, totals that never cut silently,
CSRF and escaping, and admin changes recorded with the person as actor."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
import pytest

from persona_mcp.audit import AuditEvent
from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.server.console.app import SIGNIN_FAILURES_ALLOWED
from persona_mcp.server.console.pages import CONTENT_SECURITY_POLICY

from ._support import Running, agent_history, console_server, csrf_of, person_grant, sign_in

pytestmark = pytest.mark.anyio

REVIEWER_SCOPES = ["audit:read", "audit:all_environments"]


@asynccontextmanager
async def browser(running: Running) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=running.base, timeout=30, follow_redirects=True) as http:
        yield http


async def _records(running: Running, **filters: object) -> list[AuditEvent]:
    return [r async for r in iter_records(running.app.store, AuditFilter(**filters))]  # type: ignore[arg-type]


async def test_signing_in_sets_a_strict_http_only_cookie_and_every_page_sends_a_strict_policy(
    tmp_path: Path,
) -> None:
    async with console_server(tmp_path) as running, browser(running) as http:
        token = await person_grant(running.app, "rita@example.com", REVIEWER_SCOPES)
        signin_page = await http.get("/console/signin")
        assert signin_page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "script-src" not in CONTENT_SECURITY_POLICY and "default-src 'none'" in CONTENT_SECURITY_POLICY
        page = await http.post("/console/signin", data={"token": token, "csrf": csrf_of(signin_page.text)})
        assert page.status_code == 200 and "Audit search" in page.text
        cookie = next(r for r in page.history if "set-cookie" in r.headers).headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert "Secure" not in cookie, "plain HTTP on loopback: a Secure cookie would never come back"
        assert page.headers["cache-control"] == "no-store"
        signed_in = await _records(running, kind="admin.console.signed_in")
        assert [r.actor for r in signed_in] == [f"rita@example.com (console, grant {signed_in[0].target})"]


async def test_an_agents_grant_a_wrong_token_and_a_form_without_its_csrf_token_do_not_sign_in(
    tmp_path: Path,
) -> None:
    async with console_server(tmp_path) as running, browser(running) as http:
        from persona_mcp.testing import issue_grant

        agent_token = await issue_grant(running.app, REVIEWER_SCOPES, principal="bot")
        refused = await sign_in(http, agent_token)
        assert refused.status_code == 401 and "belongs to an agent" in refused.text
        wrong = await sign_in(http, "pmcp_not_a_real_token")
        assert wrong.status_code == 401
        person = await person_grant(running.app, "rita", REVIEWER_SCOPES)
        no_csrf = await http.post("/console/signin", data={"token": person})
        assert no_csrf.status_code == 403 and "persona_mcp_console=" not in no_csrf.headers.get(
            "set-cookie", ""
        )
        reasons = [r.details["reason"] for r in await _records(running, kind="admin.console.signin_refused")]
        assert len(reasons) == 2 and agent_token not in json.dumps(reasons)


async def test_guessing_tokens_is_throttled_and_audited(tmp_path: Path) -> None:
    async with console_server(tmp_path) as running, browser(running) as http:
        for _ in range(SIGNIN_FAILURES_ALLOWED):
            assert (await sign_in(http, "pmcp_guess")).status_code == 401
        person = await person_grant(running.app, "rita", REVIEWER_SCOPES)
        throttled = await sign_in(http, person)
        assert throttled.status_code == 429, "even the right token waits once the address is throttled"
        details = [r.details for r in await _records(running, kind="admin.console.signin_refused")]
        assert {"reason": "throttled"} in details


async def test_a_person_without_audit_read_is_refused_the_log(tmp_path: Path) -> None:
    async with console_server(tmp_path) as running, browser(running) as http:
        await sign_in(http, await person_grant(running.app, "ann", ["accounts:read", "console:admin"]))
        for path in ("/console/audit", "/console/audit/records/1", "/console/audit/export?format=jsonl"):
            page = await http.get(path)
            assert page.status_code == 403 and "audit:read" in page.text, path
        assert (await http.get("/console/admin/grants")).status_code == 200
    async with console_server(tmp_path / "second") as running, browser(running) as http:
        await sign_in(http, await person_grant(running.app, "rita", ["audit:read"]))
        assert (await http.get("/console/admin/grants")).status_code == 403


async def test_not_signed_in_goes_to_the_sign_in_page(tmp_path: Path) -> None:
    async with console_server(tmp_path) as running, browser(running) as http:
        page = await http.get("/console/audit?principal=x")
        assert page.url.path == "/console/signin"


async def test_what_did_agent_x_do_to_account_y_last_week_and_was_anything_denied(tmp_path: Path) -> None:
    async with console_server(tmp_path) as running, browser(running) as http:
        history = await agent_history(running)
        await sign_in(http, await person_grant(running.app, "rita", REVIEWER_SCOPES))
        page = await http.get(
            "/console/audit", params={"principal": history.agent, "object": history.account_id, "since": "7d"}
        )
        expected = await _records(running, principal=history.agent, object_id=history.account_id)
        assert f'<span id="total">{len(expected)}</span>' in page.text
        denied = [r for r in expected if r.decision == "denied"]
        assert len(denied) == history.denied_calls and all(r.tool == "update_account" for r in denied)
        assert page.text.count('class="denied"') == len(denied)
        assert page.text.count('<td><a href="/console/audit/records/') == len(expected)
        assert len(expected) < len(await _records(running, principal=history.agent)), (
            "other calls are not shown"
        )
        for record in expected:
            assert record.call_id is None or record.call_id in page.text, "call ids are shown in full"
        only_denied = await http.get(
            "/console/audit", params={"object": history.account_id, "decision": "denied"}
        )
        assert f'<span id="total">{history.denied_calls}</span>' in only_denied.text
        timeline = await http.get(f"/console/audit/objects/{history.account_id}")
        assert timeline.text.count('class="denied"') == history.denied_calls


async def test_a_long_result_says_how_many_it_shows_of_how_many_and_pages_through_all(tmp_path: Path) -> None:
    async with console_server(tmp_path) as running, browser(running) as http:
        for i in range(420):
            await running.app.audit.append(
                AuditEvent(
                    kind="call.outcome",
                    call_id=f"call-{i:04d}-{'x' * 40}",
                    principal="bulk",
                    tool="t",
                    decision="allowed",
                    outcome="ok",
                )
            )
        await sign_in(http, await person_grant(running.app, "rita", REVIEWER_SCOPES))
        seen: list[str] = []
        page = await http.get("/console/audit", params={"principal": "bulk", "size": "100"})
        while True:
            assert '<span id="total">420</span>' in page.text
            start = len(seen) + 1
            assert f"Showing {start}&ndash;{min(start + 99, 420)} of" in page.text
            seen.extend(line for line in page.text.split("call=")[1:])
            if 'id="next-page"' not in page.text:
                break
            next_href = page.text.split('id="next-page" href="')[1].split('"')[0].replace("&amp;", "&")
            page = await http.get(next_href)
        assert len(seen) == 420
        by_prefix = await http.get("/console/audit", params={"call": "call-0007-"})
        assert '<span id="total">1</span>' in by_prefix.text and f"call-0007-{'x' * 40}" in by_prefix.text


async def test_exports_of_the_current_search_hold_exactly_its_records(tmp_path: Path) -> None:
    async with console_server(tmp_path) as running, browser(running) as http:
        history = await agent_history(running)
        await sign_in(http, await person_grant(running.app, "rita", REVIEWER_SCOPES))
        expected = await _records(running, object_id=history.account_id)
        params = {"object": history.account_id}
        jsonl = await http.get("/console/audit/export", params={**params, "format": "jsonl"})
        assert [json.loads(line)["seq"] for line in jsonl.text.splitlines()] == [r.seq for r in expected]  # type: ignore[attr-defined]
        rows = list(
            csv.reader(
                io.StringIO(
                    (await http.get("/console/audit/export", params={**params, "format": "csv"})).text
                )
            )
        )
        assert len(rows) == len(expected) + 1
        ocsf = await http.get("/console/audit/export", params={**params, "format": "ocsf"})
        assert all(json.loads(line)["class_uid"] for line in ocsf.text.splitlines())
        assert len(await _records(running, kind="admin.audit.exported")) == 3


async def test_a_record_shows_its_body_hash_previous_hash_checkpoint_and_its_calls_other_record(
    tmp_path: Path,
) -> None:
    async with console_server(tmp_path) as running, browser(running) as http:
        from persona_mcp.testing import issue_grant

        token = await issue_grant(running.app, ["accounts:write"], principal="writer")
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client

        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as agent:
            async with Client(streamable_http_client(running.mcp, http_client=agent)) as client:
                await client.call_tool("create_account", {"reference_id": "ref-1"})
        await running.app.audit.checkpoint()
        intent = (await _records(running, kind="call.intent"))[0]
        await sign_in(http, await person_grant(running.app, "rita", REVIEWER_SCOPES))
        page = await http.get(f"/console/audit/records/{intent.seq}")  # type: ignore[attr-defined]
        assert intent.hash in page.text and intent.prev_hash in page.text  # type: ignore[attr-defined]
        assert "signed at record" in page.text
        assert "call.intent" in page.text and "call.outcome" in page.text, "intent and outcome side by side"


async def test_a_form_post_without_its_sessions_csrf_token_changes_nothing(tmp_path: Path) -> None:
    async with console_server(tmp_path) as running, browser(running) as http:
        await sign_in(http, await person_grant(running.app, "ada", ["console:admin"]))
        before = len(await running.app.grants.list_all())
        forged = await http.post(
            "/console/admin/grants", data={"principal": "evil", "scopes": "console:admin"}
        )
        assert forged.status_code == 403
        forged = await http.post("/console/admin/grants", data={"principal": "evil", "csrf": "x" * 43})
        assert forged.status_code == 403
        assert len(await running.app.grants.list_all()) == before


async def test_caller_chosen_text_is_escaped_on_every_page(tmp_path: Path) -> None:
    xss = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    async with console_server(tmp_path) as running, browser(running) as http:
        from persona_mcp.testing import issue_grant

        await issue_grant(running.app, ["accounts:read"], principal=xss, label=xss)
        await running.app.audit.append(
            AuditEvent(
                kind="call.denied",
                principal=xss,
                tool=xss,
                client_name=xss,
                decision="denied",
                call_id="c-xss",
                object_ids=["act_" + "1" * 24],
            )
        )
        await sign_in(http, await person_grant(running.app, "ada", ["console:admin", *REVIEWER_SCOPES]))
        pages = [
            await http.get("/console/admin/grants"),
            await http.get("/console/audit"),
            await http.get("/console/audit", params={"principal": xss}),
            await http.get(f"/console/audit/objects/act_{'1' * 24}"),
        ]
        record = (await _records(running, call_id="c-xss"))[0]
        pages.append(await http.get(f"/console/audit/records/{record.seq}"))  # type: ignore[attr-defined]
        for page in pages:
            assert page.status_code == 200
            assert "<script>" not in page.text and "<img src=x" not in page.text, page.url
        assert "&lt;script&gt;" in pages[0].text and "&lt;script&gt;" in pages[1].text


async def test_an_admin_creates_sees_the_effective_tools_rotates_and_revokes_a_grant(tmp_path: Path) -> None:
    async with console_server(tmp_path) as running, browser(running) as http:
        await sign_in(http, await person_grant(running.app, "ada", ["console:admin"]))
        page = await http.get("/console/admin/grants")
        created = await http.post(
            "/console/admin/grants",
            data={
                "principal": "agent-new",
                "environment": "sandbox",
                "scopes": "accounts:read",
                "principal_kind": "agent",
                "csrf": csrf_of(page.text),
            },
        )
        token = created.text.split('<pre id="issued-token">')[1].split("<")[0]
        grant = (await running.app.callers.resolve(token)).grant  # type: ignore[union-attr]
        row = created.text.split(f'id="grant-{grant.id}"')[1].split("</tr>")[0]
        visible = [t.name for t in running.app.pipeline.visible_to(await running.app.callers.resolve(token))]
        assert f"{len(visible)} tools" in row and all(f"<li>{name}</li>" in row for name in visible)
        assert "<li>create_account</li>" not in row
        rotated = await http.post(
            f"/console/admin/grants/{grant.id}/rotate", data={"csrf": csrf_of(created.text)}
        )
        new_token = rotated.text.split('<pre id="issued-token">')[1].split("<")[0]
        assert new_token != token
        await http.post(f"/console/admin/grants/{grant.id}/revoke", data={"csrf": csrf_of(rotated.text)})
        assert not (await running.app.grants.require(grant.id)).is_live(running.app.pipeline._clock())
        changes = [
            r for r in await _records(running) if r.target == grant.id and r.kind.startswith("admin.grant")
        ]
        assert [r.kind for r in changes] == [
            "admin.grant.created",
            "admin.grant.rotated",
            "admin.grant.revoked",
        ]
        assert all(r.actor and r.actor.startswith("ada (console") for r in changes)


async def test_a_pasted_grants_toml_is_shown_as_a_plan_before_it_is_applied(tmp_path: Path) -> None:
    toml = (
        'source = "console-test"\n[grants.reviewer-bot]\nprincipal = "bot-r"\n'
        'environment = "sandbox"\nscopes = ["accounts:read"]\n'
    )
    async with console_server(tmp_path) as running, browser(running) as http:
        await sign_in(http, await person_grant(running.app, "ada", ["console:admin"]))
        page = await http.get("/console/admin/plan")
        planned = await http.post(
            "/console/admin/plan", data={"grants_toml": toml, "apply": "0", "csrf": csrf_of(page.text)}
        )
        assert "bot-r" in planned.text and "(new)" in planned.text and 'id="apply-submit"' in planned.text
        assert not [g for g in await running.app.grants.list_all() if g.principal == "bot-r"]
        applied = await http.post(
            "/console/admin/plan", data={"grants_toml": toml, "apply": "1", "csrf": csrf_of(planned.text)}
        )
        assert "shown once" in applied.text
        assert [g.principal for g in await running.app.grants.list_all() if g.principal == "bot-r"] == [
            "bot-r"
        ]


async def test_credentials_show_status_never_secrets(tmp_path: Path) -> None:
    async with console_server(tmp_path) as running, browser(running) as http:
        from pydantic import SecretStr

        from persona_mcp.auth.environment import Environment

        secret = "persona_sandbox_" + "s3cr3t" * 6
        await running.app.pipeline.credential_store.add_api_key(
            Environment.SANDBOX, SecretStr(secret), actor="t"
        )
        await sign_in(http, await person_grant(running.app, "ada", ["console:admin"]))
        page = await http.get("/console/admin/credentials")
        assert page.status_code == 200 and "api_key" in page.text and secret not in page.text
