"""Verification runs started from the console: one at a time per server, progress readable while it runs.

The run is the same `verify_log` as `persona-mcp audit verify`, with the same trust rule (the public half of
this server's own signing key) and the same outside checkpoints (the anchor file), so the console and the
CLI cannot disagree about a log. Starting a run and its verdict are audit records.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import structlog

from persona_mcp.audit import AuditLog
from persona_mcp.audit.checkpoint import Checkpoint, checkpoint_anchor, read_checkpoint_file
from persona_mcp.audit.keys import existing_public_key, signing_key_path
from persona_mcp.audit.verify import VerifyReport, verify_log
from persona_mcp.store import Store
from persona_mcp.tasks import cancel_and_wait

log = structlog.get_logger("persona_mcp.console")


@dataclass(slots=True)
class VerifyRun:
    requested_by: str
    started_at: datetime
    done: int = 0
    total: int = 0
    finished_at: datetime | None = None
    report: VerifyReport | None = None
    error: str | None = None

    @property
    def running(self) -> bool:
        return self.finished_at is None

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0


@dataclass(slots=True)
class VerifyRuns:
    store: Store
    audit: AuditLog
    data_dir: Path
    checkpoint_location: str | Path | None
    last: VerifyRun | None = None
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    def start(self, actor: str) -> VerifyRun | None:
        """Start a run, or None when one is already running (its progress is on the page)."""
        if self.last is not None and self.last.running:
            return None
        run = VerifyRun(requested_by=actor, started_at=datetime.now(UTC))
        self.last = run
        self._task = asyncio.create_task(self._verify(run))
        return run

    async def _verify(self, run: VerifyRun) -> None:
        def progress(done: int, total: int) -> None:
            run.done, run.total = done, total

        try:
            await self.audit.admin_event(
                action="audit.verify_started", actor=run.requested_by, target="chain"
            )
            public = existing_public_key(signing_key_path(self.data_dir))
            if public is None:
                raise RuntimeError("no signing key in the data directory: nothing to trust checkpoints by")
            run.report = await verify_log(
                self.store,
                trusted_keys=[public],
                external_checkpoints=self._external(),
                progress=progress,
            )
            first = run.report.first_break
            await self.audit.admin_event(
                action="audit.verified",
                actor=run.requested_by,
                target="chain",
                details={
                    "status": run.report.status.value,
                    "records": run.report.records,
                    "first_break_seq": first.seq if first else None,
                },
            )
        except Exception as exc:  # the page shows why the run stopped; nothing else depends on it
            run.error = f"{type(exc).__name__}: {exc}"
            log.warning("console.verify_failed", error=run.error)
        finally:
            run.finished_at = datetime.now(UTC)

    def _external(self) -> list[Checkpoint]:
        anchor = checkpoint_anchor(self.checkpoint_location, self.data_dir)
        return list(read_checkpoint_file(anchor.file)) if anchor.file.exists() else []

    async def aclose(self) -> None:
        if self._task is not None and not self._task.done():
            await cancel_and_wait(self._task)


__all__ = ["VerifyRun", "VerifyRuns"]
