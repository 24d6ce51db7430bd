"""Saved inquiry PDFs (unmasked personal data) are deleted once the file retention has passed.

Ages are set with `os.utime` and sweeps read an injected clock, so nothing here waits for real time.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from persona_mcp.config import DEFAULT_FILE_RETENTION_SECONDS
from persona_mcp.server.app import open_server
from persona_mcp.testing import connected, sandbox_settings
from persona_mcp.tools.saved_files import FileRetention, saved_files_dir

pytestmark = pytest.mark.anyio

NOW = 1_800_000_000.0


def _file(directory: Path, name: str, age_seconds: float, now: float = NOW) -> Path:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(b"%PDF-1.7 personal data")
    os.utime(path, (now - age_seconds, now - age_seconds))
    return path


def test_a_sweep_deletes_files_older_than_the_retention_and_keeps_younger_ones(tmp_path: Path) -> None:
    expired = _file(tmp_path, "inq_Old-1.pdf", age_seconds=3601)
    fresh = _file(tmp_path, "inq_New-2.pdf", age_seconds=3599)
    (tmp_path / "subdir").mkdir()
    retention = FileRetention(tmp_path, 3600, clock=lambda: NOW)
    assert retention.sweep() == 1
    assert not expired.exists() and fresh.exists() and (tmp_path / "subdir").is_dir()


def test_a_sweep_removes_an_expired_symlink_without_touching_its_target(tmp_path: Path) -> None:
    target = _file(tmp_path / "elsewhere", "keep.txt", age_seconds=0)
    link = tmp_path / "files" / "planted.pdf"
    link.parent.mkdir()
    link.symlink_to(target)
    os.utime(link, (NOW - 7200, NOW - 7200), follow_symlinks=False)
    assert FileRetention(link.parent, 3600, clock=lambda: NOW).sweep() == 1
    assert not link.is_symlink() and target.exists()


def test_a_missing_directory_is_nothing_to_sweep(tmp_path: Path) -> None:
    assert FileRetention(tmp_path / "never-created", 3600).sweep() == 0


def test_the_default_retention_is_one_hour_and_sweeps_run_at_least_every_minute() -> None:
    assert DEFAULT_FILE_RETENTION_SECONDS == 3600
    assert FileRetention(Path("."), DEFAULT_FILE_RETENTION_SECONDS).sweep_interval == 60
    assert FileRetention(Path("."), 30).sweep_interval == 15
    assert FileRetention(Path("."), 0.01).sweep_interval == 1


async def test_a_printed_pdf_is_deleted_by_the_first_sweep_after_its_retention(tmp_path: Path) -> None:
    async with connected(tmp_path, ["inquiries:read", "pii:read"]) as h:
        inquiry = next(r.id for r in h.sandbox.records.values() if r.type == "inquiry")
        result = await h.client.call_tool("print_inquiry_pdf", {"inquiry_id": inquiry})
        assert not result.is_error
        assert result.structured_content is not None
    saved = list(saved_files_dir(tmp_path).iterdir())
    assert len(saved) == 2, saved  # the PDF and what the server knows about it
    written = max(path.stat().st_mtime for path in saved)
    FileRetention(saved_files_dir(tmp_path), 3600, clock=lambda: written + 3599).sweep()
    assert all(path.exists() for path in saved), "kept while the retention lasts"
    FileRetention(saved_files_dir(tmp_path), 3600, clock=lambda: written + 3601).sweep()
    assert not any(path.exists() for path in saved)


async def test_the_server_sweeps_expired_files_when_it_starts_using_the_configured_retention(
    tmp_path: Path,
) -> None:
    now = time.time()
    expired = _file(saved_files_dir(tmp_path), "inq_Left-1.pdf", age_seconds=700, now=now)
    kept = _file(saved_files_dir(tmp_path), "inq_Recent-2.pdf", age_seconds=500, now=now)
    settings = sandbox_settings(tmp_path)
    settings.file_retention_seconds = 600
    async with open_server(settings, transport="memory"):
        assert not expired.exists()
        assert kept.exists()


def test_the_sweeper_keeps_sweeping_at_its_interval_until_stopped(tmp_path: Path) -> None:
    clock = [NOW]
    waits: list[float] = []
    first = _file(tmp_path, "inq_A-1.pdf", age_seconds=0)
    retention = FileRetention(tmp_path, 120, clock=lambda: clock[0])

    def stopped(interval: float) -> bool:
        """What `threading.Event.wait` does for the sweeper thread, with time advanced instead of slept."""
        waits.append(interval)
        clock[0] += interval
        if len(waits) == 2:  # at NOW+120: `first` is due; `second` is written, dated NOW+60
            _file(tmp_path, "inq_B-2.pdf", age_seconds=60, now=clock[0])
        return len(waits) == 5

    retention.sweep_until(stopped)

    assert waits == [60, 60, 60, 60, 60]
    assert not first.exists()
    assert not (tmp_path / "inq_B-2.pdf").exists(), "written at NOW+60, swept by the sweep at NOW+180"


async def test_the_sweeper_thread_stops_when_the_server_closes(tmp_path: Path) -> None:
    async with open_server(sandbox_settings(tmp_path), transport="memory"):
        assert [t.name for t in threading.enumerate()].count("saved-files-sweeper") == 1
    assert "saved-files-sweeper" not in [t.name for t in threading.enumerate()]
