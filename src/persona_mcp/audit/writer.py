"""`AuditLog`: durable, linear, fail-closed appends with group commit and signed checkpoints.

Callers enqueue events; one writer task drains the queue and hands everything waiting to a dedicated
worker thread, which commits it in a single transaction under the chain lock (one fsync for the batch,
see `committer`); then each caller's future is resolved. `append` therefore returns only after its
record is durably committed, and concurrent calls never fork the chain.

If a batch cannot be committed every caller in it gets `AuditUnavailableError` and `health` turns
unhealthy with the reason; the server refuses calls until a later write succeeds (fail closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel

from persona_mcp.audit import checkpoint as _checkpoint
from persona_mcp.audit.chain import Batch, ChainPolicy, Committed, select_unresolved
from persona_mcp.audit.checkpoint import Checkpoint, append_external
from persona_mcp.audit.committer import BatchCommitter, open_committer
from persona_mcp.audit.errors import AuditUnavailableError
from persona_mcp.audit.keys import load_signing_key, signing_key_path
from persona_mcp.audit.record import AuditEvent, AuditRecord, utc_timestamp
from persona_mcp.audit.redaction import PiiDigester
from persona_mcp.store import Store

_log = structlog.get_logger("persona_mcp.audit")

INSTANCE_ID_ENV = "PERSONA_MCP_AUDIT_INSTANCE_ID"
_MAX_BATCH = 1024


@dataclass(frozen=True, slots=True)
class Health:
    """Whether the audit log can take records; `reason` says why not (no secrets, no record data)."""

    ok: bool
    reason: str | None = None


def default_instance_id(data_dir: Path) -> str:
    """A stable id per host and data directory (`PERSONA_MCP_AUDIT_INSTANCE_ID` overrides it).

    Stable across restarts, so a restarted process resolves the intents its predecessor left open.
    """
    configured = os.environ.get(INSTANCE_ID_ENV)
    if configured:
        return configured
    where = hashlib.sha256(str(data_dir.expanduser().resolve()).encode()).hexdigest()[:12]
    return f"{socket.gethostname()}:{where}"


@dataclass(slots=True)
class _Append:
    fields: dict[str, Any]
    future: asyncio.Future[AuditRecord]


@dataclass(slots=True)
class _CheckpointRequest:
    future: asyncio.Future[Checkpoint | None]


class _Signal:
    pass


_TICK = _Signal()
_STOP = _Signal()

_Item = _Append | _CheckpointRequest | _Signal


class AuditLog:
    """The audit log of one server process. Open with `AuditLog.open`, close with `aclose`."""

    def __init__(
        self,
        store: Store,
        *,
        instance_id: str,
        signing_key_file: Path,
        digester: PiiDigester,
        checkpoint_every: int,
        checkpoint_interval_s: float,
        external_checkpoint_path: Path | None,
    ) -> None:
        if checkpoint_every < 1 or checkpoint_interval_s <= 0:
            raise ValueError("checkpoint_every must be >= 1 and checkpoint_interval_s > 0")
        self._store = store
        self._instance_id = instance_id
        self._signing_key = load_signing_key(signing_key_file)
        self._digester = digester
        self._every = checkpoint_every
        self._interval = checkpoint_interval_s
        self._external = external_checkpoint_path
        self._pending_external: list[Checkpoint] = []
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._health = Health(ok=True)
        self._closed = False
        self._writer: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        # One thread owns the committer's connection; batches run there one at a time, in order.
        # (The executor starts its thread on the first batch, so a failed `open` leaves none behind.)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-writer")
        self._committer: BatchCommitter[Any] | None = None

    def _policy(self) -> ChainPolicy:
        return ChainPolicy(
            instance_id=self._instance_id,
            signing_key=self._signing_key,
            checkpoint_every=self._every,
            clock=utc_timestamp,
        )

    @classmethod
    async def open(
        cls,
        store: Store,
        *,
        data_dir: Path,
        instance_id: str | None = None,
        checkpoint_every: int = 1000,
        checkpoint_interval_s: float = 60.0,
        external_checkpoint_path: Path | None = None,
        signing_key_file: Path | None = None,
        recover: bool = True,
    ) -> AuditLog:
        """Load the keys, start the writer task and (unless `recover=False`) resolve open intents.

        `external_checkpoint_path` defaults to `PERSONA_MCP_AUDIT_CHECKPOINT_DIR`; `signing_key_file` to
        `PERSONA_MCP_AUDIT_SIGNING_KEY_FILE` or `<data_dir>/audit-signing.key`.
        """
        log = cls(
            store,
            instance_id=instance_id or default_instance_id(data_dir),
            signing_key_file=signing_key_file or signing_key_path(data_dir),
            digester=PiiDigester.for_data_dir(data_dir),
            checkpoint_every=checkpoint_every,
            checkpoint_interval_s=checkpoint_interval_s,
            external_checkpoint_path=_checkpoint.external_checkpoint_path(external_checkpoint_path),
        )
        log._committer = await open_committer(store, log._policy())
        log._start()
        if recover:
            try:
                await log.recover()
            except BaseException:
                await log.aclose()
                raise
        return log

    def _start(self) -> None:
        self._writer = asyncio.create_task(self._run(), name="audit-writer")
        self._ticker = asyncio.create_task(self._tick_every_interval(), name="audit-checkpoint-timer")

    # -- public surface -------------------------------------------------------------------------

    @property
    def instance_id(self) -> str:
        return self._instance_id

    @property
    def health(self) -> Health:
        return self._health

    @property
    def digester(self) -> PiiDigester:
        return self._digester

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._signing_key.public_key()

    @property
    def store(self) -> Store:
        return self._store

    @property
    def external_checkpoint_path(self) -> Path | None:
        return self._external

    def redact_arguments(
        self, input_model: type[BaseModel] | None, arguments: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Arguments with personal values replaced by keyed digests (see `PiiDigester`)."""
        return self._digester.redact_arguments(input_model, arguments)

    async def append(self, event: AuditEvent) -> AuditRecord:
        """Append `event`; returns the committed record, or raises `AuditUnavailableError`."""
        self._ensure_running()
        future: asyncio.Future[AuditRecord] = asyncio.get_running_loop().create_future()
        # Dumped here, outside the chain lock; the writer thread only adds the chain fields and hashes.
        self._queue.put_nowait(_Append(event.model_dump(mode="json"), future))
        return await future

    async def checkpoint(self) -> Checkpoint | None:
        """Sign a checkpoint at the current head now (the existing one if nothing was added since)."""
        self._ensure_running()
        future: asyncio.Future[Checkpoint | None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_CheckpointRequest(future))
        return await future

    def _ensure_running(self) -> None:
        if self._closed:
            raise AuditUnavailableError("the audit log is closed")
        if self._writer is None or self._writer.done():
            self._health = Health(ok=False, reason="the audit writer task is not running")
            raise AuditUnavailableError("the audit writer task is not running")

    async def admin_event(
        self, *, action: str, actor: str, target: str, details: Mapping[str, Any] | None = None
    ) -> None:
        """`AdminEventSink`: record an administrative change as kind `admin.<action>`."""
        await self.append(
            AuditEvent(
                kind=f"admin.{action}",
                actor=actor,
                target=target,
                details=dict(details) if details is not None else None,
            )
        )

    async def recover(self) -> list[AuditRecord]:
        """Close the intents this instance left without an outcome (a crash between intent and outcome).

        Only intents written under this process's own instance id are touched: another replica's open
        intents may belong to calls still in flight. Each gets a `call.outcome_unknown` record; the
        intent itself is never changed.
        """
        async with self._store.engine.connect() as conn:
            rows = (await conn.execute(select_unresolved(self._instance_id))).all()
        resolved: list[AuditRecord] = []
        for row in rows:
            intent = AuditRecord.from_stored(row.body, row.hash)
            resolved.append(
                await self.append(
                    AuditEvent(
                        kind="call.outcome_unknown",
                        call_id=intent.call_id,
                        principal=intent.principal,
                        client_id=intent.client_id,
                        grant_id=intent.grant_id,
                        subject=intent.subject,
                        actor=intent.actor,
                        session_id=intent.session_id,
                        client_name=intent.client_name,
                        client_version=intent.client_version,
                        tool=intent.tool,
                        scope=intent.scope,
                        decision=intent.decision,
                        upstream_method=intent.upstream_method,
                        upstream_path=intent.upstream_path,
                        object_ids=intent.object_ids,
                        idempotency_key=intent.idempotency_key,
                        outcome="unknown",
                        reason=f"the server stopped before recording the outcome of intent seq {intent.seq}",
                    )
                )
            )
        if resolved:
            _log.warning(
                "audit.recovered_unresolved_intents", count=len(resolved), instance_id=self._instance_id
            )
        return resolved

    async def aclose(self) -> None:
        """Commit what is queued, sign a final checkpoint, stop the writer."""
        if self._closed:
            return
        self._closed = True
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._writer is not None and not self._writer.done():
            future: asyncio.Future[Checkpoint | None] = asyncio.get_running_loop().create_future()
            self._queue.put_nowait(_CheckpointRequest(future))
            self._queue.put_nowait(_STOP)
            await self._writer
            if future.done() and future.exception() is not None:
                _log.warning("audit.final_checkpoint_failed", reason=self._health.reason)

    async def __aenter__(self) -> AuditLog:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- writer task ----------------------------------------------------------------------------

    async def _tick_every_interval(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self._queue.put_nowait(_TICK)

    async def _run(self) -> None:
        """Commit batch after batch until asked to stop.

        A batch is everything queued when the writer gets to it: appends arriving while a batch commits
        wait for the next one (that is the group commit), but a lone append never waits for company.
        """
        loop = asyncio.get_running_loop()
        stop = False
        try:
            while not stop:
                batch = [await self._queue.get()]
                while len(batch) < _MAX_BATCH and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                stop = any(item is _STOP for item in batch)
                await self._commit(loop, batch)
        finally:
            with contextlib.suppress(Exception):
                await loop.run_in_executor(self._thread, self._close_in_thread)
            self._thread.shutdown(wait=False)

    async def _commit(self, loop: asyncio.AbstractEventLoop, batch: list[_Item]) -> None:
        appends = [item for item in batch if isinstance(item, _Append)]
        requests = [item for item in batch if isinstance(item, _CheckpointRequest)]
        work = Batch(
            events=[item.fields for item in appends],
            requested=bool(requests),
            timed=any(item is _TICK for item in batch),
        )
        try:
            committed, external_error = await loop.run_in_executor(self._thread, self._commit_in_thread, work)
        except Exception as exc:
            self._fail(appends, requests, exc)
            return
        self._health = Health(ok=True) if external_error is None else Health(ok=False, reason=external_error)
        for item, record in zip(appends, committed.records, strict=True):
            if not item.future.done():
                item.future.set_result(record)
        for request in requests:
            if not request.future.done():
                request.future.set_result(committed.signed or committed.current)

    # -- on the writer thread -------------------------------------------------------------------

    def _commit_in_thread(self, batch: Batch) -> tuple[Committed, str | None]:
        """Commit the batch, then mirror any new checkpoint to the external file (both blocking I/O)."""
        committer = self._committer
        if committer is None:
            raise AuditUnavailableError("the audit log has no database connection")
        committed = committer.commit(batch)
        if committed.signed is not None:
            self._pending_external.append(committed.signed)
        return committed, self._flush_external()

    def _close_in_thread(self) -> None:
        if self._committer is not None:
            self._committer.close()

    def _flush_external(self) -> str | None:
        """Mirror signed checkpoints to the external file; the reason it failed (the log is then
        unhealthy, and the checkpoints stay pending for the next batch), or None."""
        if self._external is None or not self._pending_external:
            return None
        try:
            append_external(self._external, self._pending_external)
        except OSError as exc:
            reason = f"external checkpoint file not writable: {type(exc).__name__}: {exc.strerror or exc}"
            _log.error("audit.external_checkpoint_failed", reason=reason, pending=len(self._pending_external))
            return reason
        self._pending_external.clear()
        return None

    def _fail(self, appends: list[_Append], requests: list[_CheckpointRequest], exc: Exception) -> None:
        cause = exc.orig if hasattr(exc, "orig") and exc.orig is not None else exc
        first_line = str(cause).splitlines()[0] if str(cause) else ""
        reason = f"audit write failed: {type(cause).__name__}: {first_line}"[:300]
        self._health = Health(ok=False, reason=reason)
        _log.error("audit.write_failed", reason=reason, records=len(appends))
        futures: list[asyncio.Future[Any]] = [item.future for item in appends]
        futures.extend(request.future for request in requests)
        for future in futures:
            if not future.done():
                future.set_exception(AuditUnavailableError(reason))


__all__ = ["INSTANCE_ID_ENV", "AuditLog", "Health", "default_instance_id"]
