"""Each filter of the console's audit search filters: over a log whose records are known (written into a
real SQLite file as the writer seals them, at chosen times before the server opens it), every filter and
preset shows exactly the records it names, and the total says how many."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import insert

from persona_mcp.audit import AuditEvent
from persona_mcp.audit.chain import seal
from persona_mcp.audit.open_calls import rebuild_statement
from persona_mcp.audit.record import GENESIS_HASH, utc_timestamp
from persona_mcp.store import create_store, upgrade
from persona_mcp.store.schema.audit import audit_records

from ._support import console_server, person_grant, sign_in

pytestmark = pytest.mark.anyio

SHOWN_CALL = re.compile(r'<td class="id"><a href="/console/audit\?call=([^"]+)">')
TOTAL = re.compile(r'<span id="total">(\d+)</span>')


@dataclass(frozen=True)
class Known:
    call: str
    ago: timedelta
    kind: str
    principal: str
    grant: str
    tool: str
    decision: str
    outcome: str | None = None


#: The log the reviewer searches: every record has a call id starting `gap-`, so `call=gap-` keeps the
#: server's own records (the reviewer's grant, the sign-in) out of each answer.
LOG = (
    Known(
        "gap-intent-open", timedelta(days=10), "call.intent", "agent-b", "grt_b", "update_account", "allowed"
    ),
    Known("gap-denied", timedelta(days=2), "call.denied", "agent-b", "grt_b", "update_account", "denied"),
    Known(
        "gap-error", timedelta(hours=3), "call.outcome", "agent-a", "grt_a", "get_account", "allowed", "error"
    ),
    Known(
        "gap-ok", timedelta(minutes=30), "call.outcome", "agent-a", "grt_a", "get_account", "allowed", "ok"
    ),
    Known("gap-write", timedelta(minutes=20), "call.intent", "agent-a", "grt_a", "create_account", "allowed"),
    Known(
        "gap-write",
        timedelta(minutes=19),
        "call.outcome",
        "agent-a",
        "grt_a",
        "create_account",
        "allowed",
        "ok",
    ),
)


async def _write_log(database_url: str) -> None:
    store = create_store(database_url)
    await upgrade(store)
    now = datetime.now(UTC)
    prev, rows = GENESIS_HASH, []
    for seq, known in enumerate(LOG, start=1):
        event = AuditEvent(
            kind=known.kind,
            call_id=known.call,
            principal=known.principal,
            grant_id=known.grant,
            tool=known.tool,
            decision=known.decision,  # type: ignore[arg-type]
            outcome=known.outcome,  # type: ignore[arg-type]
        )
        record, row = seal(
            event,
            seq=seq,
            prev_hash=prev,
            instance_id="earlier-run",
            timestamp=utc_timestamp(now - known.ago),
        )
        prev = record.hash
        rows.append(row)
    async with store.engine.begin() as conn:
        await conn.execute(insert(audit_records), rows)
        await conn.execute(rebuild_statement())
    await store.close()


def _calls(*names: str) -> list[str]:
    """The calls of the known records matching, newest first (the page's order)."""
    return [k.call for k in reversed(LOG) if k.call in names or not names]


#: Each search, and the calls of the records it must show, newest first.
CASES: list[tuple[dict[str, str], list[str]]] = [
    ({}, _calls()),
    ({"grant": "grt_b"}, ["gap-denied", "gap-intent-open"]),
    ({"tool": "get_account"}, ["gap-ok", "gap-error"]),
    ({"outcome": "error"}, ["gap-error"]),
    ({"outcome": "ok"}, ["gap-write", "gap-ok"]),
    ({"kind": "call.intent"}, ["gap-write", "gap-intent-open"]),
    ({"decision": "denied"}, ["gap-denied"]),
    ({"decision": "allowed"}, ["gap-write", "gap-write", "gap-ok", "gap-error", "gap-intent-open"]),
    ({"since": "1h"}, ["gap-write", "gap-write", "gap-ok"]),
    ({"since": "24h"}, ["gap-write", "gap-write", "gap-ok", "gap-error"]),
    ({"since": "7d"}, ["gap-write", "gap-write", "gap-ok", "gap-error", "gap-denied"]),
    ({"unresolved": "1"}, ["gap-intent-open"]),
    ({"grant": "grt_a", "tool": "create_account", "since": "1h"}, ["gap-write", "gap-write"]),
]


async def test_each_filter_shows_exactly_the_records_it_names_and_counts_them(
    tmp_path: Path, database_url: str
) -> None:
    await _write_log(database_url)
    async with console_server(tmp_path, database_url=database_url) as running:
        async with httpx2.AsyncClient(base_url=running.base, timeout=30, follow_redirects=True) as http:
            await sign_in(
                http, await person_grant(running.app, "rita", ["audit:read", "audit:all_environments"])
            )
            for filters, expected in CASES:
                page = await http.get("/console/audit", params={"call": "gap-", **filters})
                assert page.status_code == 200 and 'class="error"' not in page.text, (filters, page.text)
                assert SHOWN_CALL.findall(page.text) == expected, filters
                assert TOTAL.findall(page.text) == [str(len(expected))], filters
