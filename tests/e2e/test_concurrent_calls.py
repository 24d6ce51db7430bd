"""Many tool calls at once through the MCP client still leave one straight, verifiable audit chain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from persona_mcp.testing import connected

from ._chain import all_records, assert_calls_well_formed, assert_linear, assert_verifies

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CALLS = 200


def _call_for(i: int, accounts: list[str]) -> tuple[str, dict[str, Any]]:
    """Reads and writes interleaved: a quarter each of list, get, create and tag."""
    account = accounts[i % len(accounts)]
    match i % 4:
        case 0:
            return "list_accounts", {"page_size": 5}
        case 1:
            return "get_account", {"account_id": account}
        case 2:
            return "create_account", {"reference_id": f"e2e-concurrent-{i}"}
        case _:
            return "add_account_tag", {"account_id": account, "tag_name": f"batch-{i}"}


async def test_two_hundred_concurrent_reads_and_writes_leave_a_gap_free_fork_free_verified_chain(
    tmp_path: Path, database_url: str
) -> None:
    async with connected(tmp_path, ["accounts:write"], database_url=database_url) as h:
        accounts = sorted(r.id for r in h.sandbox.records.values() if r.type == "account")
        failures: list[str] = []

        async def one(i: int) -> None:
            tool, arguments = _call_for(i, accounts)
            result = await h.client.call_tool(tool, arguments)
            if result.is_error:
                failures.append(f"{tool}: {result.content}")

        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                for i in range(CALLS):
                    tg.start_soon(one, i)
        assert failures == []
        assert h.sandbox.counters["accounts.create"] == CALLS // 4, "every create reached the sandbox once"

        await h.app.audit.checkpoint()
        records = await all_records(h.app.store)
        assert_linear(records)
        calls = assert_calls_well_formed(records)
        assert len(calls) == CALLS
        assert sum(r.kind == "call.intent" for r in records) == CALLS // 2
        assert all(trail[-1].outcome == "ok" for trail in calls.values())
        report = await assert_verifies(h.app.store, h.app.audit.public_key)
        assert report.records == len(records) and report.last_seq == records[-1].seq
        assert report.checkpoints_matched >= 1
