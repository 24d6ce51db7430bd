"""The console's verify page: before any run it says so; a run shows its progress while it runs; the last
run shows its verdict, who asked, its coverage (records and the last one checked, checkpoints) and whether
a checkpoint kept outside the database anchors the log, and through which record."""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

import persona_mcp.audit.verify as verify_module
import persona_mcp.server.console.verify_runs as verify_runs_module
from persona_mcp.audit import AuditEvent

from ._support import console_server, csrf_of, person_grant, sign_in

pytestmark = pytest.mark.anyio

BATCH = 10


async def _finished(http: httpx2.AsyncClient) -> str:
    """The verify page once the run is over (the page refreshes itself while it runs, as a browser would)."""
    for _ in range(600):
        page = await http.get("/console/audit/verify")
        if 'id="verify-verdict"' in page.text or "The run stopped" in page.text:
            return page.text
        await asyncio.sleep(0.1)
    raise AssertionError("the verification never finished")


def _field(page: str, element_id: str) -> str:
    return re.sub(r"<[^>]+>", "", page.split(f'id="{element_id}"')[1].split(">", 1)[1].split("</dd>")[0])


async def test_the_verify_page_shows_a_runs_progress_then_its_coverage_and_anchoring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real verification, in pages of ten records, held after its first page until the test has
    # looked at the page: its progress is then known exactly.
    first_page_done, resume = asyncio.Event(), asyncio.Event()
    real_pages = verify_module.chain_pages

    async def held_after_first_page(*args: Any) -> AsyncIterator[Any]:
        pages = real_pages(*args)
        try:
            index = 0
            async for rows in pages:
                yield rows
                if index == 0:
                    first_page_done.set()
                    await resume.wait()
                index += 1
        finally:
            await pages.aclose()

    monkeypatch.setattr(verify_module, "chain_pages", held_after_first_page)
    monkeypatch.setattr(
        verify_runs_module, "verify_log", functools.partial(verify_module.verify_log, batch_size=BATCH)
    )
    async with console_server(tmp_path) as running:
        for i in range(35):
            await running.app.audit.append(
                AuditEvent(kind="call.outcome", call_id=f"c{i}", tool="t", outcome="ok")
            )
        async with httpx2.AsyncClient(base_url=running.base, timeout=30) as http:
            await sign_in(
                http, await person_grant(running.app, "rita", ["audit:read", "audit:all_environments"])
            )
            before = await http.get("/console/audit/verify")
            assert "No verification has run on this server since it started." in before.text
            started = await http.post("/console/audit/verify", data={"csrf": csrf_of(before.text)})
            assert started.status_code == 303
            await first_page_done.wait()

            during = (await http.get("/console/audit/verify")).text
            status = re.search(r"Running, started by (.+?): (\d+) of (\d+) records checked\.", during)
            assert status is not None, during
            assert status.group(1).startswith("rita (console, grant ") and status.group(2) == str(BATCH)
            total = int(status.group(3))
            assert total >= 35
            assert f'<progress id="verify-progress" max="100" value="{100 * BATCH // total}">' in during
            assert 'http-equiv="refresh"' in during, "the page follows the run by itself"
            assert re.search(r'id="verify-run"\s+disabled', during), "one run at a time"

            resume.set()
            unanchored = await _finished(http)
            assert re.search(r'id="verify-verdict">unanchored<', unanchored)
            assert f"{total} (through seq {total})" == _field(unanchored, "verify-records")
            assert "not anchored: no checkpoint kept outside the database" in _field(
                unanchored, "verify-anchoring"
            )
            assert "requested by rita (console, grant " in unanchored

            # A checkpoint kept outside the database, then more records: anchored through the checkpoint.
            checkpoint = await running.app.audit.checkpoint()
            assert checkpoint is not None
            for i in range(3):
                await running.app.audit.append(
                    AuditEvent(kind="call.outcome", call_id=f"d{i}", tool="t", outcome="ok")
                )
            again = await http.post("/console/audit/verify", data={"csrf": csrf_of(unanchored)})
            assert again.status_code == 303
            anchored = await _finished(http)
            assert re.search(r'id="verify-verdict">ok<', anchored), anchored
            last_seq = int(_field(anchored, "verify-records").split("through seq ")[1].rstrip(")"))
            assert last_seq > checkpoint.seq
            assert _field(anchored, "verify-anchoring") == (
                f"anchored outside the database through record {checkpoint.seq}; "
                f"{last_seq - checkpoint.seq} later records not yet anchored"
            )
