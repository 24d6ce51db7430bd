"""The console in a real browser: headless Chromium from Debian's packages, driven by Selenium, against the
real server on a loopback socket. Each page is saved as a screenshot under `test-artifacts/console/`
(gitignored) so a reviewer can look at what the tests saw.

Without Chromium and its driver the tests skip with the reason, except under `CI=true`, where `.ci/run`
installs them (`apt-get install chromium chromium-driver`) and a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from persona_mcp.audit import AuditEvent

from ._support import Running, agent_history, console_server_thread, person_grant

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"


def _missing() -> str | None:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.path.exists(path):
            return f"{path} not found: install Debian's {package} (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture
def driver() -> Iterator[object]:
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests must run under CI: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    with console_server_thread(tmp_path) as server:
        yield server


def _shot(browser: object, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / f"{name}.png"))  # type: ignore[attr-defined]


def _sign_in(browser: object, running: Running, token: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{running.base}/console/signin")  # type: ignore[attr-defined]
    _shot(browser, "signin")
    browser.find_element(By.ID, "token").send_keys(token)  # type: ignore[attr-defined]
    browser.find_element(By.ID, "signin-submit").click()  # type: ignore[attr-defined]
    from selenium.webdriver.support.ui import WebDriverWait

    # The next page load must not race the sign-in post.
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "signed-in-as"))


def _text(browser: object, element_id: str) -> str:
    """The element's visible text, found and read in one step inside the page. An element handle found
    first and read afterwards can be replaced in between by an htmx swap, and Chromium may then answer
    "Node with given id does not belong to the document" (a plain WebDriverException, not a stale
    element): one script call leaves no handle to go stale. A missing element raises
    NoSuchElementException, which waits ignore, as they do for `find_element`."""
    from selenium.common.exceptions import NoSuchElementException

    script = "const e = document.getElementById(arguments[0]); return e === null ? null : e.innerText;"
    text = browser.execute_script(script, element_id)  # type: ignore[attr-defined]
    if text is None:
        raise NoSuchElementException(f"no element with id {element_id!r}")
    return str(text).strip()


def test_a_reviewer_signs_in_and_answers_what_agent_x_did_to_account_y_including_denials(
    driver: object, running: Running
) -> None:
    from selenium.webdriver.common.by import By

    history = running.run(agent_history(running))
    token = running.run(person_grant(running.app, "rita@example.com", ["audit:read"]))
    _sign_in(driver, running, token)
    assert "rita@example.com" in _text(driver, "signed-in-as")
    form = driver.find_element(By.ID, "search")  # type: ignore[attr-defined]
    form.find_element(By.NAME, "principal").send_keys(history.agent)
    form.find_element(By.NAME, "object").send_keys(history.account_id)
    form.find_element(By.NAME, "since").send_keys("7d")
    driver.find_element(By.ID, "search-submit").click()  # type: ignore[attr-defined]
    _shot(driver, "search")
    rows = driver.find_elements(By.CSS_SELECTOR, "#records tbody tr")  # type: ignore[attr-defined]
    denied = driver.find_elements(By.CSS_SELECTOR, "#records tbody tr.denied")  # type: ignore[attr-defined]
    assert int(_text(driver, "total")) == len(rows) and len(denied) == history.denied_calls
    assert all("update_account" in row.text for row in denied)
    # From a record to its detail, then to the object's whole timeline.
    rows[0].find_element(By.CSS_SELECTOR, "td:nth-child(2) a").click()
    _shot(driver, "record")
    assert len(_text(driver, "hash")) == 64 and len(_text(driver, "prev-hash")) == 64
    assert _text(driver, "body").startswith("{")
    driver.get(f"{running.base}/console/audit/objects/{history.account_id}")  # type: ignore[attr-defined]
    _shot(driver, "timeline")
    assert len(driver.find_elements(By.CSS_SELECTOR, "#records tbody tr.denied")) == history.denied_calls  # type: ignore[attr-defined]


def test_a_verify_run_on_a_tampered_log_shows_where_it_breaks(driver: object, running: Running) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    for i in range(30):
        running.run(
            running.app.audit.append(AuditEvent(kind="call.outcome", call_id=f"c{i}", tool="t", outcome="ok"))
        )
    running.run(running.app.audit.checkpoint())
    running.run(_tamper(running, seq=12))
    token = running.run(person_grant(running.app, "rita", ["audit:read", "audit:all_environments"]))
    _sign_in(driver, running, token)
    driver.get(f"{running.base}/console/audit/verify")  # type: ignore[attr-defined]
    driver.find_element(By.ID, "verify-run").click()  # type: ignore[attr-defined]
    WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.ID, "verify-verdict"))
    _shot(driver, "verify")
    assert _text(driver, "verify-verdict") == "broken"
    assert "record 12" in _text(driver, "verify-breaks") and "edited" in _text(driver, "verify-breaks")


async def _tamper(running: Running, seq: int) -> None:
    from sqlalchemy import text

    store = running.app.store
    async with store.engine.begin() as conn:
        for suffix in ("no_update", "no_delete"):
            await conn.execute(text(f"DROP TRIGGER IF EXISTS audit_records_{suffix}"))
        await conn.execute(
            text("UPDATE audit_records SET body = REPLACE(body, '\"ok\"', '\"error\"') WHERE seq = :seq"),
            {"seq": seq},
        )


def test_an_admin_creates_a_grant_sees_its_tools_and_revokes_it(driver: object, running: Running) -> None:
    from selenium.webdriver.common.by import By

    token = running.run(person_grant(running.app, "ada", ["console:admin"]))
    _sign_in(driver, running, token)
    driver.get(f"{running.base}/console/admin/grants")  # type: ignore[attr-defined]
    driver.find_element(By.ID, "new-principal").send_keys("agent-new")  # type: ignore[attr-defined]
    driver.find_element(By.ID, "new-scopes").send_keys("accounts:read inquiries:read")  # type: ignore[attr-defined]
    driver.find_element(By.ID, "create-submit").click()  # type: ignore[attr-defined]
    _shot(driver, "grants")
    issued = _text(driver, "issued-token")
    caller = running.run(running.app.callers.resolve(issued))
    assert caller is not None
    row = driver.find_element(By.ID, f"grant-{caller.grant.id}")  # type: ignore[attr-defined]
    row.find_element(By.TAG_NAME, "summary").click()
    shown = [li.text for li in row.find_elements(By.CSS_SELECTOR, "td.tools li")]
    assert shown == [spec.name for spec in running.app.pipeline.visible_to(caller)]
    row.find_element(By.CSS_SELECTOR, "button.revoke").click()
    _shot(driver, "grants-revoked")
    state = driver.find_element(By.CSS_SELECTOR, f"#grant-{caller.grant.id} td.state").text  # type: ignore[attr-defined]
    assert state == "revoked"
    driver.get(f"{running.base}/console/admin/credentials")  # type: ignore[attr-defined]
    _shot(driver, "credentials")
    driver.get(f"{running.base}/console/admin/plan")  # type: ignore[attr-defined]
    _shot(driver, "plan")


def test_a_person_without_audit_read_is_refused(driver: object, running: Running) -> None:
    token = running.run(person_grant(running.app, "ann", ["accounts:read"]))
    _sign_in(driver, running, token)
    driver.get(f"{running.base}/console/audit")  # type: ignore[attr-defined]
    _shot(driver, "refused")
    assert "audit:read" in _text(driver, "refused")


def test_script_in_caller_chosen_text_never_runs(driver: object, running: Running) -> None:
    from persona_mcp.testing import issue_grant

    xss = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>"
    running.run(issue_grant(running.app, ["accounts:read"], principal=xss))
    running.run(
        running.app.audit.append(AuditEvent(kind="call.denied", principal=xss, tool=xss, decision="denied"))
    )
    token = running.run(
        person_grant(running.app, "ada", ["console:admin", "audit:read", "audit:all_environments"])
    )
    _sign_in(driver, running, token)
    for path in ("/console/audit", "/console/admin/grants"):
        driver.get(f"{running.base}{path}")  # type: ignore[attr-defined]
        assert driver.title != "pwned"  # type: ignore[attr-defined]
        assert xss in driver.page_source.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')  # type: ignore[attr-defined]
    _shot(driver, "escaped")


def test_a_forged_cross_site_form_post_is_refused(driver: object, running: Running) -> None:
    """A page elsewhere cannot post into the console: the session cookie is SameSite=Strict and the form
    lacks the session's CSRF token. Here the browser posts a form without the token from the console's
    own origin, the strongest position a forger could have; nothing changes."""
    token = running.run(person_grant(running.app, "ada", ["console:admin"]))
    _sign_in(driver, running, token)
    before = len(running.run(running.app.grants.list_all()))
    forged = (
        "data:text/html,<form id=f method=post action='" + running.base + "/console/admin/grants'>"
        "<input name=principal value=evil><input name=scopes value=console:admin></form>"
    )
    driver.get(forged)  # type: ignore[attr-defined]
    driver.execute_script("document.getElementById('f').submit()")  # type: ignore[attr-defined]
    assert len(running.run(running.app.grants.list_all())) == before


def test_a_person_signs_in_with_persona_mcp_through_the_consent_page_and_back(
    driver: object, running: Running
) -> None:
    """The button, the server's own consent page (grant token, then the scopes to allow), and back to the
    console signed in. The flow's `state` rides in a SameSite=Strict cookie: the browser sends it on the
    consent page's redirect back, because the whole chain stays on one site."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    token = running.run(person_grant(running.app, "rita@example.com", ["audit:read", "console:admin"]))
    driver.get(f"{running.base}/console/signin")  # type: ignore[attr-defined]
    driver.find_element(By.ID, "oauth-signin-submit").click()  # type: ignore[attr-defined]
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "grant_token"))
    _shot(driver, "oauth-consent-signin")
    driver.find_element(By.ID, "grant_token").send_keys(token)  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()  # type: ignore[attr-defined]
    allow = "button[name=decision][value=allow]"
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, allow))
    # Leave console:admin out: the console then gets audit:read only.
    driver.find_element(By.CSS_SELECTOR, "input[name=scope][value='console:admin']").click()  # type: ignore[attr-defined]
    _shot(driver, "oauth-consent")
    driver.find_element(By.CSS_SELECTOR, allow).click()  # type: ignore[attr-defined]
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "signed-in-as"))
    _shot(driver, "oauth-signed-in")
    assert "rita@example.com" in _text(driver, "signed-in-as")
    assert driver.current_url == f"{running.base}/console/audit"  # type: ignore[attr-defined]
    assert driver.find_elements(By.CSS_SELECTOR, "a[href='/console/admin/grants']") == []  # type: ignore[attr-defined]
    refused = running.run(_kinds(running, "admin.console.signin_refused"))
    (signed_in,) = running.run(_kinds(running, "admin.console.signed_in"))
    assert refused == [] and signed_in.details["scopes"] == ["audit:read"]


async def _kinds(running: Running, kind: str) -> list[AuditEvent]:
    from persona_mcp.audit.query import AuditFilter, iter_records

    return [r async for r in iter_records(running.app.store, AuditFilter(kind=kind))]


async def _held_redaction(running: Running) -> str:
    """An agent asks to redact an account: the call is held, and its approval id returned."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    from persona_mcp.testing import issue_grant

    token = await issue_grant(running.app, ["accounts:read", "accounts:delete"], principal="agent-a")
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        async with Client(streamable_http_client(running.mcp, http_client=http)) as client:
            listed = await client.call_tool("list_accounts", {"page_size": 1})
            account = (listed.structured_content or {})["items"][0]["id"]
            held = await client.call_tool("redact_account", {"account_id": account})
    return str((held.structured_content or {})["approval"]["id"])


def test_an_approver_finds_a_held_call_and_rejects_it_with_a_reason(driver: object, running: Running) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    approval_id = running.run(_held_redaction(running))
    token = running.run(person_grant(running.app, "alice", ["approvals:decide"]))
    _sign_in(driver, running, token)
    # A person who only decides approvals lands on them, with the way back in the menu.
    assert driver.current_url == f"{running.base}/console/approvals"  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "nav a[href='/console/approvals']").click()  # type: ignore[attr-defined]
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "approvals"))
    _shot(driver, "approvals")
    row = driver.find_element(By.ID, f"approval-{approval_id}")  # type: ignore[attr-defined]
    assert "redact_account" in row.text and "agent-a" in row.text
    assert row.find_element(By.CSS_SELECTOR, "td.state").text == "pending"
    row.find_element(By.CSS_SELECTOR, "td.id a").click()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "approval-state"))
    _shot(driver, "approval")
    assert _text(driver, "approval-tool") == "redact_account"
    assert "personal data masked" in driver.page_source  # type: ignore[attr-defined]
    driver.find_element(By.ID, "reject-reason").send_keys("no erasure request on file")  # type: ignore[attr-defined]
    driver.find_element(By.ID, "reject-submit").click()  # type: ignore[attr-defined]
    # The answer replaces the page (an htmx swap): `_text` finds and reads in one step, so the swap
    # cannot fall between the two.
    WebDriverWait(driver, 30).until(lambda d: _text(d, "approval-state") == "rejected")
    _shot(driver, "approval-rejected")
    assert "alice: no erasure request on file" in driver.page_source  # type: ignore[attr-defined]
    assert driver.find_elements(By.ID, "approve-submit") == []  # type: ignore[attr-defined]
    (rejected,) = running.run(_kinds(running, "approval.rejected"))
    assert rejected.actor == "alice" and rejected.reason == "no erasure request on file"
