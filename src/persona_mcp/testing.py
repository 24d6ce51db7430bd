"""Test helpers for persona-mcp and for people who extend it.

`connected(tmp_path, scopes=...)` is the whole stack in one process: the Persona sandbox over ASGI, a
real SQLite file (or any database URL), the audit log, a grant with the scopes you name, and the SDK's
in-memory `Client` talking to the low-level server. Nothing reaches the internet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import mcp_types as types
from mcp import Client
from pydantic import SecretStr
from starlette.applications import Starlette

from persona_mcp.audit.record import AuditEvent
from persona_mcp.auth.environment import Environment
from persona_mcp.auth.grant import GrantDraft
from persona_mcp.auth.scopes import Scope, parse_scopes
from persona_mcp.config import PersonaSettings, Settings
from persona_mcp.sandbox import DEFAULT_API_KEY, SandboxConfig, SandboxState, create_app
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.server.app import PersonaMcp, open_server
from persona_mcp.server.callers import StaticTokenCallers
from persona_mcp.server.exposure import ExposureOptions
from persona_mcp.store import Store

#: Base URL the in-process sandbox answers on (the host is never resolved: requests go through ASGI).
SANDBOX_BASE_URL = "http://sandbox.persona.test/api/v1"


def sandbox_app(seed: Literal["demo"] | None = "demo") -> Starlette:
    """A fresh sandbox with the demo data (or empty)."""
    return create_app(SandboxConfig(api_keys=frozenset({DEFAULT_API_KEY}), seed=seed))


def sandbox_settings(
    data_dir: Path, *, database_url: str | None = None, base_url: str = SANDBOX_BASE_URL, **persona: Any
) -> Settings:
    """Settings for a server whose upstream is the sandbox, with the sandbox key as PERSONA_API_KEY."""
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        environment="sandbox",
        persona=PersonaSettings(key=SecretStr(DEFAULT_API_KEY), base_url=base_url, **persona),
    )


async def issue_grant(
    app: PersonaMcp,
    scopes: Iterable[Scope | str],
    *,
    principal: str = "test-agent",
    environment: Environment = Environment.SANDBOX,
    **constraints: Any,
) -> str:
    """Create a grant through the real grant store and return its bearer token."""
    draft = GrantDraft(
        principal=principal,
        environment=environment,
        scopes=parse_scopes(str(s) for s in scopes),
        **constraints,
    )
    issued = await app.grants.create(draft, actor="test")
    return issued.token


def approvals_waived() -> frozenset[str]:
    """Every tool whose declared policy requires approval: a grant's `no_approval` for tests (and demos)
    that exercise the tools themselves rather than the four-eyes flow (`--no-approval` for each)."""
    from persona_mcp.auth.approval_policy import ApprovalPolicy
    from persona_mcp.tools import CATALOGUE

    return frozenset(spec.name for spec in CATALOGUE if spec.approval_policy is ApprovalPolicy.REQUIRED)


@dataclass(slots=True)
class Harness:
    """Everything a test needs to drive and inspect one in-process server."""

    client: Client
    app: PersonaMcp
    sandbox: SandboxState
    token: str


@asynccontextmanager
async def connected(
    data_dir: Path,
    scopes: Iterable[Scope | str],
    *,
    seed: Literal["demo"] | None = "demo",
    database_url: str | None = None,
    exposure: ExposureOptions | None = None,
    sandbox: Starlette | None = None,
    principal: str = "test-agent",
    **constraints: Any,
) -> AsyncIterator[Harness]:
    """Server + sandbox + grant + in-memory MCP client, closed on exit.

    The server offers every toolset unless `exposure` says otherwise, so the grant's `scopes` alone
    decide what the test sees (a server started by `persona-mcp serve` offers the default toolsets).
    """
    upstream = sandbox or sandbox_app(seed)
    settings = sandbox_settings(data_dir, database_url=database_url)
    async with open_server(
        settings,
        exposure=exposure or ExposureOptions.everything(),
        transport="memory",
        persona_transport=SandboxTransport(upstream),
    ) as app:
        token = await issue_grant(app, scopes, principal=principal, **constraints)
        assert isinstance(app.caller_source, StaticTokenCallers)
        app.caller_source.token = token
        async with Client(app.server) as client:
            yield Harness(client=client, app=app, sandbox=upstream.state.sandbox, token=token)


async def listed_as(harness: Harness, scopes: Iterable[Scope | str]) -> types.ListToolsResult:
    """The `tools/list` result the server sends a fresh grant holding `scopes` (the connection stays)."""
    token = await issue_grant(harness.app, scopes, principal="listing-probe")
    assert isinstance(harness.app.caller_source, StaticTokenCallers)
    harness.app.caller_source.token = token
    try:
        return await harness.client.list_tools()
    finally:
        harness.app.caller_source.token = harness.token


def wire_bytes(result: types.ListToolsResult, only: Iterable[str] | None = None) -> int:
    """Bytes of `result` as the server sends it (the JSON-RPC envelope aside); with `only`, of the same
    result holding just the tools named, which is what a server offering only those would send."""
    if only is not None:
        names = set(only)
        result = result.model_copy(update={"tools": [tool for tool in result.tools if tool.name in names]})
    return len(result.model_dump_json(by_alias=True, exclude_none=True).encode())


__all__ = [
    "SANDBOX_BASE_URL",
    "Harness",
    "approvals_waived",
    "connected",
    "insert_sealed_records",
    "issue_grant",
    "listed_as",
    "sandbox_app",
    "sandbox_settings",
    "wire_bytes",
]


async def insert_sealed_records(
    store: Store,
    events: Iterable[AuditEvent],
    *,
    instance_id: str = "old",
    timestamps: Iterable[str] | None = None,
) -> None:
    """Write `events` as a valid chain straight into the records table, as an older version left them
    (no object index, no open-calls set): for tests of migrations that fill those from the records, and
    of searches over records written at given times (`timestamps`, one per event; else one fixed time)."""
    from persona_mcp.audit.chain import seal
    from persona_mcp.audit.record import GENESIS_HASH
    from persona_mcp.store.schema.audit import audit_records

    events = list(events)
    stamps = ["2026-01-01T00:00:00.000000Z"] * len(events) if timestamps is None else list(timestamps)
    prev, rows = GENESIS_HASH, []
    for seq, (event, stamp) in enumerate(zip(events, stamps, strict=True), start=1):
        record, row = seal(event, seq=seq, prev_hash=prev, instance_id=instance_id, timestamp=stamp)
        prev = record.hash
        rows.append(row)
    async with store.engine.begin() as conn:
        await conn.execute(audit_records.insert(), rows)
