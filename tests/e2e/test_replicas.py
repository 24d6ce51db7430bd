"""Two `persona-mcp serve` processes sharing one PostgreSQL database keep a single audit chain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from persona_mcp.server.app import open_server
from persona_mcp.server.serving import serving
from persona_mcp.testing import issue_grant, sandbox_app, sandbox_settings

from ._chain import all_records, assert_calls_well_formed, assert_linear, assert_verifies
from ._cli import PERSONA_MCP, server_env

pytestmark = [pytest.mark.anyio, pytest.mark.postgres, pytest.mark.slow]

CALLS_PER_REPLICA = 100
REPLICAS = ("replica-a", "replica-b")


@asynccontextmanager
async def _stdio_server(env: dict[str, str], log: Path) -> AsyncIterator[Client]:
    """A `persona-mcp serve` child process driven by the SDK's stdio client; its log goes to `log`."""
    with log.open("w") as errlog:
        params = StdioServerParameters(command=PERSONA_MCP, args=["serve", "--log-level", "WARNING"], env=env)
        async with Client(stdio_client(params, errlog=errlog)) as client:
            yield client


def _call_for(replica: int, i: int, accounts: list[str]) -> tuple[str, dict[str, Any]]:
    account = accounts[i % len(accounts)]
    match i % 3:
        case 0:
            return "create_account", {"reference_id": f"replica-{replica}-{i}"}
        case 1:
            return "add_account_tag", {"account_id": account, "tag_name": f"r{replica}-{i}"}
        case _:
            return "get_account", {"account_id": account}


async def test_two_server_processes_on_one_postgresql_leave_one_gap_free_fork_free_verified_chain(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    data_dir = tmp_path / "shared"
    upstream = sandbox_app("demo")
    accounts = sorted(r.id for r in upstream.state.sandbox.records.values() if r.type == "account")
    async with serving(upstream) as sandbox_url:
        base_url = f"{sandbox_url}/api/v1"
        # One deployment step before the replicas start: migrate, create the keys, issue the grant.
        settings = sandbox_settings(data_dir, database_url=postgres_schema_url, base_url=base_url)
        async with open_server(settings, instance_id="setup") as setup:
            token = await issue_grant(setup, ["accounts:write"], principal="replicated-agent")
            public_key = setup.audit.public_key
            store_url = postgres_schema_url

        failures: list[str] = []
        ready = [anyio.Event() for _ in REPLICAS]
        go = anyio.Event()

        async def replica(index: int, name: str) -> None:
            env = server_env(
                data_dir, base_url=base_url, instance_id=name, token=token, database_url=store_url
            )
            async with _stdio_server(env, tmp_path / f"{name}.log") as client:
                ready[index].set()
                await go.wait()  # both sessions are up before either sends a call
                async with anyio.create_task_group() as calls:
                    for i in range(CALLS_PER_REPLICA):
                        calls.start_soon(one, client, index, i)

        async def one(client: Client, index: int, i: int) -> None:
            tool, arguments = _call_for(index, i, accounts)
            result = await client.call_tool(tool, arguments)
            if result.is_error:
                failures.append(f"{REPLICAS[index]} {tool}: {result.content}")

        with anyio.fail_after(150):
            async with anyio.create_task_group() as tg:
                for index, name in enumerate(REPLICAS):
                    tg.start_soon(replica, index, name)
                for event in ready:
                    await event.wait()
                go.set()
        assert failures == []

    settings = sandbox_settings(data_dir, database_url=store_url)
    async with open_server(settings, instance_id="reviewer") as reviewer:
        records = await all_records(reviewer.store)
        assert_linear(records)
        calls = assert_calls_well_formed(records)
        assert len(calls) == CALLS_PER_REPLICA * len(REPLICAS)
        writers = {r.instance_id for r in records if r.kind.startswith("call.")}
        assert writers == set(REPLICAS)
        for name in REPLICAS:
            assert (
                sum(r.kind == "call.outcome" and r.instance_id == name for r in records) == CALLS_PER_REPLICA
            )
        report = await assert_verifies(reviewer.store, public_key)
        assert report.records == len(records)
