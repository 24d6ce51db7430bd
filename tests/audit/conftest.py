"""Audit fixtures: a log on the shared `store` (SQLite and PostgreSQL), filled through the real writer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from persona_mcp.audit import AuditLog
from persona_mcp.store import Store


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
async def audit_log(store: Store, data_dir: Path) -> AsyncIterator[AuditLog]:
    log = await AuditLog.open(store, data_dir=data_dir, instance_id="test-instance")
    try:
        yield log
    finally:
        await log.aclose()
