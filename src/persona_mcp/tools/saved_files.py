"""Files that tools save on the server (inquiry PDFs: unmasked personal data): owned, expiring, swept.

A tool never hands a server path to the agent: what it saves is served back as an MCP resource
(`persona-mcp://files/<id>`) to the grant whose call saved it (`SavedFiles`, read by
`server.resources`). Files are content-addressed per owner, so the same PDF printed twice by the same
grant is one file whose retention starts again, not a second copy.

Personal data must not pile up on disk after the agent that asked for it is done: every file in the
saved-files directory older than the retention (`PERSONA_MCP_FILE_RETENTION_SECONDS`, one hour by default)
is deleted. The server sweeps when it starts and then periodically, so a file outlives its retention by
at most one sweep interval (a read after the retention is refused even before the sweep). Replicas
sharing a data directory may sweep the same files; a file another sweep already deleted is not an error.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import anyio.to_thread
import structlog
from pydantic import Field

from persona_mcp.tools.results import ResultModel

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


# -- files as MCP resources --------------------------------------------------------------------------------

#: The URI scheme and authority of the files this server serves as MCP resources.
FILE_URI_PREFIX = "persona-mcp://files/"
#: The `tool` of the audit record of a file read (the tool that saved it is in the record's details).
READ_RESOURCE = "resources/read"

_FILE_ID = re.compile(r"[0-9a-f]{32}")
_CONTENT, _META = ".bin", ".json"


@dataclass(frozen=True, slots=True)
class FileOwner:
    """Who may read a saved file back: the grant (and principal) whose call saved it, nobody else."""

    grant_id: str
    principal: str


@dataclass(frozen=True, slots=True)
class SavedFile:
    """A file a tool saved, as the server knows it: where it came from, whose it is, until when it lives."""

    id: str
    owner: FileOwner
    tool: str
    object_id: str | None
    name: str
    mime_type: str
    size: int
    sha256: str
    expires_at: float

    @property
    def uri(self) -> str:
        return FILE_URI_PREFIX + self.id

    @property
    def expires_at_iso(self) -> str:
        return (
            datetime.fromtimestamp(self.expires_at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        )


def file_id_of(uri: str) -> str | None:
    """The file id a `persona-mcp://files/<id>` URI names, or None for any other URI."""
    if not uri.startswith(FILE_URI_PREFIX):
        return None
    file_id = uri.removeprefix(FILE_URI_PREFIX)
    return file_id if _FILE_ID.fullmatch(file_id) else None


def _file_id(owner: FileOwner, sha256: str) -> str:
    """Content-addressed per owner: the same bytes saved by the same grant are the same file."""
    return hashlib.sha256(f"{owner.grant_id}\n{owner.principal}\n{sha256}".encode()).hexdigest()[:32]


def _write_private(directory: Path, name: str, content: bytes) -> None:
    """Write `content` as `directory/name`, readable by this server's user only, atomically.

    The directory is (re)set to 0700; the bytes go to a fresh 0600 file (O_EXCL, so a planted file or
    symlink is never written through) that is then renamed into place, so a reader never sees half a file.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    staging = directory / f".{name}.{uuid.uuid4().hex}.tmp"
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(content)
        os.replace(staging, directory / name)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise


class SavedFiles:
    """The saved-files directory as a store of owned, expiring files: what tools write and resources read.

    Each file is two entries named by its id: the bytes (`<id>.bin`) and what the server knows about them
    (`<id>.json`: owner, tool, object, type, digest). Names carry no inquiry id. A file expires
    `max_age_seconds` after it was last saved (its modification time), whether or not a sweep has removed
    it yet; saving the same bytes again renews it instead of writing a copy.
    """

    def __init__(
        self, directory: Path, max_age_seconds: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.directory = directory
        self.max_age_seconds = max_age_seconds
        self._clock = clock

    def bound(self, owner: FileOwner, tool: str) -> OwnedFiles:
        """The store as one call of `tool` by `owner` sees it (what a handler gets in its context)."""
        return OwnedFiles(self, owner, tool)

    def save(
        self, owner: FileOwner, tool: str, content: bytes, *, name: str, mime_type: str, object_id: str | None
    ) -> SavedFile:
        digest = hashlib.sha256(content).hexdigest()
        file_id = _file_id(owner, digest)
        saved = SavedFile(
            id=file_id,
            owner=owner,
            tool=tool,
            object_id=object_id,
            name=name,
            mime_type=mime_type,
            size=len(content),
            sha256=digest,
            expires_at=0.0,
        )
        kept = self._renew(file_id + _CONTENT)
        if not kept:
            _write_private(self.directory, file_id + _CONTENT, content)
        if not (kept and self._renew(file_id + _META)):
            meta = {k: v for k, v in asdict(saved).items() if k not in ("id", "expires_at")}
            _write_private(self.directory, file_id + _META, json.dumps(meta, sort_keys=True).encode())
        return replace(saved, expires_at=self._expiry(self.directory / (file_id + _CONTENT)) or 0.0)

    def _renew(self, name: str) -> bool:
        """Touch an existing entry so its retention starts again; False when there is none to touch."""
        try:
            os.utime(self.directory / name, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def _expiry(self, path: Path) -> float | None:
        try:
            return path.stat(follow_symlinks=False).st_mtime + self.max_age_seconds
        except FileNotFoundError:
            return None

    def find(self, file_id: str) -> SavedFile | None:
        """The file with this id, expired or not, or None when there is no (complete) such file."""
        if not _FILE_ID.fullmatch(file_id):
            return None
        expires_at = self._expiry(self.directory / (file_id + _CONTENT))
        try:
            meta = json.loads((self.directory / (file_id + _META)).read_bytes())
            owner = FileOwner(**meta.pop("owner"))
            return SavedFile(id=file_id, owner=owner, expires_at=expires_at, **meta) if expires_at else None
        except (FileNotFoundError, ValueError, TypeError, KeyError):
            return None

    def expired(self, saved: SavedFile) -> bool:
        return self._clock() >= saved.expires_at

    def read(self, saved: SavedFile) -> bytes | None:
        """The file's bytes, or None when they are gone or no longer the bytes that were saved."""
        try:
            content = (self.directory / (saved.id + _CONTENT)).read_bytes()
        except FileNotFoundError:
            return None
        return content if hashlib.sha256(content).hexdigest() == saved.sha256 else None

    def owned_by(self, owner: FileOwner) -> list[SavedFile]:
        """The owner's files that have not expired, soonest to expire last."""
        try:
            names = sorted(entry.name for entry in os.scandir(self.directory) if entry.name.endswith(_META))
        except FileNotFoundError:
            return []
        found = (self.find(name.removesuffix(_META)) for name in names)
        live = [f for f in found if f is not None and f.owner == owner and not self.expired(f)]
        return sorted(live, key=lambda f: f.expires_at)


@dataclass(frozen=True, slots=True)
class OwnedFiles:
    """Saved files bound to one call: the owner and tool are the pipeline's, never the handler's choice."""

    store: SavedFiles
    owner: FileOwner
    tool: str

    async def save(self, content: bytes, *, name: str, mime_type: str, object_id: str | None) -> SavedFile:
        return await anyio.to_thread.run_sync(
            functools.partial(
                self.store.save,
                self.owner,
                self.tool,
                content,
                name=name,
                mime_type=mime_type,
                object_id=object_id,
            )
        )


class SavedFileResult(ResultModel):
    """A saved file as a tool result: a resource the calling grant reads with resources/read, no path."""

    uri: str = Field(description="persona-mcp://files/...: read with resources/read, this grant only.")
    name: str = Field(description="File name for the reader.")
    mime_type: str = Field(description="application/pdf, or application/octet-stream if not a PDF.")
    size: int = Field(description="File size in bytes.")
    sha256: str = Field(description="SHA-256 of the file, hex.")
    expires_at: str = Field(description="ISO 8601; deleted then, call again for a fresh copy.")

    @classmethod
    def of(cls, saved: SavedFile, **extra: Any) -> Self:
        return cls(
            uri=saved.uri,
            name=saved.name,
            mime_type=saved.mime_type,
            size=saved.size,
            sha256=saved.sha256,
            expires_at=saved.expires_at_iso,
            **extra,
        )
