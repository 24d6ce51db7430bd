"""The audit log as the `AdminEventSink` of the grants and credentials commands."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from persona_mcp.audit.checkpoint import checkpoint_anchor
from persona_mcp.audit.writer import AuditLog
from persona_mcp.config import Settings
from persona_mcp.store import Store


def cli_instance_id() -> str:
    """A command-line process's own instance id, distinct from any server's (so it never recovers theirs)."""
    return f"cli:{socket.gethostname()}:{os.getpid()}"


@asynccontextmanager
async def open_admin_sink(store: Store, settings: Settings) -> AsyncIterator[AuditLog]:
    """An audit log on `store` with the keys under `settings.data_dir`, closed (and checkpointed) on exit;
    a command-line process's own (it records admin events and signs checkpoints, never recovers)."""
    anchor = checkpoint_anchor(settings.audit_checkpoint_location, settings.data_dir)
    log = await AuditLog.open(
        store,
        data_dir=settings.data_dir,
        instance_id=cli_instance_id(),
        external_checkpoint_path=anchor.file,
        checkpoint_witness_url=anchor.witness_url,
        recover=False,
    )
    try:
        yield log
    finally:
        await log.aclose()


__all__ = ["cli_instance_id", "open_admin_sink"]
