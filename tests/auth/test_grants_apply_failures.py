"""A `grants apply` that fails never records changes that were not made (issue 10, point 9)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from auth_helpers import Clock, RecordingSink
from structlog.testing import capture_logs
from typer.testing import CliRunner

from persona_mcp.audit.query import AuditFilter, query_records
from persona_mcp.auth import grants_file
from persona_mcp.auth.grants import GrantStateError, GrantStore
from persona_mcp.cli.grants import app
from persona_mcp.store import create_store

runner = CliRunner()

_TWO = {
    "source": "ops",
    "grants": {
        "reader": {"principal": "reader-bot", "environment": "sandbox"},
        "writer": {"principal": "writer-bot", "environment": "sandbox", "scopes": ["accounts:write"]},
    },
}


def _with(name: str, **fields: Any) -> dict[str, Any]:
    grants = {key: dict(entry) for key, entry in _TWO["grants"].items()}  # type: ignore[attr-defined]
    grants[name] |= fields
    return {"source": "ops", "grants": grants}


@pytest.mark.anyio
async def test_a_draft_the_store_refuses_stops_the_plan_before_anything_is_made_or_recorded(
    grant_store: GrantStore, sink: RecordingSink, clock: Clock
) -> None:
    # "writer" sorts after "reader": before the fix, reader was created and the plan recorded as applied.
    declared = grants_file.parse(_with("writer", expires="2020-01-01"), now=clock.now)
    plan = await grants_file.plan(grant_store, declared)
    with pytest.raises(grants_file.GrantsFileError, match=r"grants\.writer: expiry must be in the future"):
        await grants_file.apply(grant_store, plan, actor="ci")
    assert await grant_store.list_all() == []
    assert sink.actions == []


@pytest.mark.anyio
async def test_a_change_failing_midway_records_what_was_applied_what_failed_and_what_was_not_tried(
    grant_store: GrantStore, sink: RecordingSink, clock: Clock
) -> None:
    first = await grants_file.apply(
        grant_store, await grants_file.plan(grant_store, grants_file.parse(_TWO, now=clock.now)), actor="ci"
    )
    declared = grants_file.parse(
        {"source": "ops", "grants": {"reader": _TWO["grants"]["reader"] | {"label": "reads"}}},  # type: ignore[index]
        now=clock.now,
    )
    plan = await grants_file.plan(grant_store, declared)
    assert [(c.action.value, c.name) for c in plan.changes] == [("update", "reader"), ("revoke", "writer")]
    await grant_store.revoke(first.issued["writer"].grant.id, actor="someone-else")  # between plan and apply
    sink.events.clear()

    with pytest.raises(GrantStateError):
        await grants_file.apply(grant_store, plan, actor="ci")

    assert sink.actions == ["grant.updated", "grants.apply_failed"]
    details = sink.events[-1]["details"]
    assert details["applied"] == [plan.changes[0].as_dict()]
    assert details["failed"] == plan.changes[1].as_dict() | {"error": "GrantStateError"}
    assert details["not_applied"] == []


# -- the CLI, with the real audit log -------------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("PERSONA_MCP_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("PERSONA_MCP_DATABASE_URL", raising=False)
    monkeypatch.delenv("PERSONA_MCP_CONFIG", raising=False)
    monkeypatch.setattr("persona_mcp.cli.grants.configure_logging", lambda level: None)
    with capture_logs():
        yield tmp_path


def _admin_kinds(data_dir: Path) -> list[str]:
    async def read() -> list[str]:
        store = create_store(f"sqlite+aiosqlite:///{data_dir / 'persona-mcp.sqlite3'}")
        try:
            return [record.kind for record in await query_records(store, AuditFilter(), limit=None)]
        finally:
            await store.close()

    return anyio.run(read)


_FILE = """
source = "support"

[grants.alpha]
principal = "alpha-bot"
environment = "sandbox"

[grants.beta]
principal = "beta-bot"
environment = "sandbox"
expires = "2020-01-01"
"""


def test_grants_apply_that_fails_validation_exits_2_and_records_no_applied_change(
    data_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "grants.toml"
    path.write_text(_FILE)
    result = runner.invoke(app, ["apply", str(path)])
    assert result.exit_code == 2, result.output
    kinds = _admin_kinds(data_dir)
    assert "admin.grants.applied" not in kinds and "admin.grant.created" not in kinds
    listed = runner.invoke(app, ["list", "--all", "--json"])
    assert json.loads(listed.stdout) == []
    assert "grants.beta: expiry must be in the future; nothing was applied" in result.stderr
