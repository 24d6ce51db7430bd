"""Files that tools save on the server (inquiry PDFs: unmasked personal data) are kept for a limited time.

Personal data must not pile up on disk after the agent that asked for it is done: every file in the
saved-files directory older than the retention (`PERSONA_MCP_FILE_RETENTION_SECONDS`, one hour by default)
is deleted. The server sweeps when it starts and then periodically, so a file outlives its retention by
at most one sweep interval. Replicas sharing a data directory may sweep the same files; a file another
sweep already deleted is not an error.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

#: The directory under the data directory where tools save files.
SAVED_FILES_DIR = "files"

#: The longest pause between two sweeps.
MAX_SWEEP_INTERVAL_SECONDS = 60.0


def saved_files_dir(data_dir: Path) -> Path:
    """Where tools save files for this data directory (one place, so writer and sweeper agree)."""
    return Path(data_dir) / SAVED_FILES_DIR


@dataclass(frozen=True, slots=True)
class FileRetention:
    """Deletes the files in `directory` that are older than `max_age_seconds` (by modification time)."""

    directory: Path
    max_age_seconds: float
    clock: Callable[[], float] = time.time

    @property
    def sweep_interval(self) -> float:
        """Often enough to keep a short retention closely, never more than once a second."""
        return max(1.0, min(MAX_SWEEP_INTERVAL_SECONDS, self.max_age_seconds / 2))

    def sweep(self) -> int:
        """Delete the expired files now; return how many were deleted.

        Directories are left alone; a symbolic link is removed itself, never followed. Failures are
        logged by type only (a file name carries an inquiry id) and never stop the sweep.
        """
        cutoff = self.clock() - self.max_age_seconds
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return 0
        except OSError as exc:
            log.warning("saved_files.sweep_failed", error=type(exc).__name__)
            return 0
        deleted = 0
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode) or info.st_mtime > cutoff:
                    continue
                os.unlink(entry.path)
                deleted += 1
            except FileNotFoundError:
                continue  # another replica's sweep was first
            except OSError as exc:
                log.warning("saved_files.delete_failed", error=type(exc).__name__)
        if deleted:
            log.info("saved_files.expired", deleted=deleted, max_age_seconds=self.max_age_seconds)
        return deleted

    def sweep_until(self, stopped: Callable[[float], bool]) -> None:
        """Sweep every `sweep_interval` until `stopped(interval)`, which waits up to that long, says so."""
        while not stopped(self.sweep_interval):
            self.sweep()

    @contextmanager
    def sweeping(self) -> Iterator[None]:
        """Sweep now, then keep sweeping in a background thread until the block exits.

        A thread rather than a task: the sweep touches only the disk, and a task group around the
        server's lifetime would wrap every exception of the code inside it in an ExceptionGroup.
        """
        self.sweep()
        stop = threading.Event()
        thread = threading.Thread(
            target=self.sweep_until, args=(stop.wait,), name="saved-files-sweeper", daemon=True
        )
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=10)
