"""The outcome spool: where a call's outcome waits, durably, while the audit store cannot take it.

A call that reached Persona must end in a record. When the store fails after the upstream request (full
disk, revoked privileges, a killed connection), the outcome record, with the real result, goes to this
file instead: one JSON line per record, appended with `O_APPEND` and fsynced before the call returns.
As soon as the store takes records again (and when the server starts, before open intents are
resolved), the spool is drained into the chain in the order it was written, and the file removed.

Draining is idempotent. The spool is first renamed to its draining name, so new outcomes start a fresh
file; a record already in the chain (the same `call_id` and `kind`; a call has one outcome) is skipped, so
a drain interrupted by a crash is simply run again. Processes sharing the data directory serialise on an
advisory file lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from persona_mcp.audit.record import AuditEvent

_log = structlog.get_logger("persona_mcp.audit")

SPOOL_NAME = "audit-spool.jsonl"
_DRAINING_SUFFIX = ".draining"
_LOCK_SUFFIX = ".lock"


class OutcomeSpool:
    """A local, fsynced, append-only file of records the store could not take yet."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._draining = path.with_name(path.name + _DRAINING_SUFFIX)
        self._lock = path.with_name(path.name + _LOCK_SUFFIX)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> OutcomeSpool:
        return cls(data_dir / SPOOL_NAME)

    @property
    def path(self) -> Path:
        return self._path

    def put(self, event: AuditEvent) -> None:
        """Append one record durably (blocking: call from a worker thread). Raises `OSError`."""
        details = dict(event.details or {})
        details["spooled_at"] = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        line = json.dumps(event.model_copy(update={"details": details}).model_dump(mode="json")) + "\n"
        with self._locked():
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(self._path.parent)

    def has_entries(self) -> bool:
        """Whether a spool file exists (cheap: no read); `pending` counts the records."""
        return self._path.exists() or self._draining.exists()

    def pending(self) -> int:
        """How many records wait in the spool (both files)."""
        return sum(1 for _ in self._read(self._draining)) + sum(1 for _ in self._read(self._path))

    async def drain(
        self,
        append: Callable[[AuditEvent], Awaitable[Any]],
        already_recorded: Callable[[AuditEvent], Awaitable[bool]],
    ) -> int:
        """Append every spooled record not yet in the chain, in order; returns how many were appended.

        Stops at the first failure (the store failed again): the rest stays spooled for the next drain.
        """
        appended = 0
        with self._locked():
            if not self._draining.exists():
                if not self._path.exists():
                    return 0
                os.replace(self._path, self._draining)
                _fsync_dir(self._path.parent)
            for event in list(self._read(self._draining)):
                if not await already_recorded(event):
                    await append(event)
                    appended += 1
            self._draining.unlink()
            _fsync_dir(self._path.parent)
        if appended:
            _log.warning("audit.spool_drained", records=appended)
        return appended

    def _read(self, path: Path) -> Iterator[AuditEvent]:
        try:
            text = path.read_text()
        except FileNotFoundError:
            return
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                yield AuditEvent.model_validate(json.loads(line))
            except ValueError:
                # A torn last line (the process died mid-write, before the fsync the caller waited for):
                # that call was never answered as recorded, and its intent, if any, is resolved as unknown.
                _log.error("audit.spool_line_unreadable", path=str(path))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self._lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
