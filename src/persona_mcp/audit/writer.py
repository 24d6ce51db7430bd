"""`AuditLog`: durable, linear, fail-closed appends with group commit and signed checkpoints.

Callers hand events straight to the writer (`worker`: on the event loop, or its thread), which commits
everything waiting in a single transaction under the chain lock (one fsync for the batch, see
`committer`); then each caller's future is resolved on the event loop. `append` therefore returns only
after its record is durably committed, and concurrent calls never fork the chain.

If a batch cannot be committed every caller in it gets `AuditUnavailableError` and `health` turns
unhealthy with the reason; the server refuses calls until a later write succeeds (fail closed).

Stalls (issue 11): every wait on the store is bounded (see `committer`), so a batch that cannot get the
chain lock in time fails with `AuditStalledError` and a reason saying so; `health` also turns unhealthy
while a commit has run past every bound the database enforces (the network to it is gone), and
`readiness` answers whether this process can append right now, probing the chain lock when no commit
succeeded recently.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel
from sqlalchemy import select

from persona_mcp.audit.chain import ChainPolicy, select_unresolved
from persona_mcp.audit.checkpoint import CHECKPOINT_FILE, Checkpoint
from persona_mcp.audit.committer import BatchCommitter, open_committer
from persona_mcp.audit.errors import AuditStalledError, AuditUnavailableError
from persona_mcp.audit.keys import load_signing_key, signing_key_path
from persona_mcp.audit.record import AuditEvent, AuditRecord, utc_timestamp
from persona_mcp.audit.redaction import PiiDigester
from persona_mcp.audit.spool import OutcomeSpool
from persona_mcp.audit.witness import WitnessPublisher
from persona_mcp.audit.worker import TICK, Append, CheckpointRequest, Outcome, Probe, WriterThread
from persona_mcp.store import Store
from persona_mcp.store.schema.audit import audit_records
from persona_mcp.tasks import cancel_and_wait

_log = structlog.get_logger("persona_mcp.audit")

INSTANCE_ID_ENV = "PERSONA_MCP_AUDIT_INSTANCE_ID"
#: A commit this recent shows the log can append: `readiness` answers without probing the lock.
READY_IF_COMMITTED_WITHIN_S = 5.0
#: How often a commit looks for spool files this process did not write.
SPOOL_LOOK_INTERVAL_S = 1.0
#: Added to the store's wait bounds to tell a hung commit (or probe) from a slow one.
_STALL_SLACK_S = 1.0


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


def _outcome_unknown(intent: AuditRecord) -> AuditEvent:
    """What recovery records for `intent`, whose outcome the server stopped before recording."""
    return AuditEvent(
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
        spool: OutcomeSpool | None = None,
        checkpoint_witness_url: str | None = None,
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
        self._spool = spool
        self._store_failing = False
        self._draining: asyncio.Task[None] | None = None
        self._witness_url = checkpoint_witness_url
        # One drain at a time in this process: the spool's file lock (for other processes) is held across
        # the drain's awaits, and a second drain taking it on the event loop would block the loop for good.
        self._drain_turn = asyncio.Lock()
        self._health = Health(ok=True)
        self._closed = False
        self._writer: WriterThread | None = None
        self._committer: BatchCommitter[Any] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._last_commit = float("-inf")
        # Tool calls this process is running (`call_in_flight`): while another one is, an append is not
        # committed alone but with the appends of the other calls (see `worker`).
        self._calls_in_flight = 0
        self._spooled_here = False
        self._next_spool_look = float("-inf")

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
        checkpoint_witness_url: str | None = None,
        signing_key_file: Path | None = None,
        recover: bool = True,
    ) -> AuditLog:
        """Load the keys, start the writer thread and (unless `recover=False`) resolve open intents.

        Every signed checkpoint is appended to `external_checkpoint_path` (default
        `<data_dir>/audit-checkpoints.jsonl`) and, given `checkpoint_witness_url`, POSTed to that witness
        (`checkpoint.checkpoint_anchor` turns the `audit_checkpoint_location` setting into both).
        `signing_key_file` defaults to `PERSONA_MCP_AUDIT_SIGNING_KEY_FILE` or `<data_dir>/audit-signing.key`.
        """
        log = cls(
            store,
            instance_id=instance_id or default_instance_id(data_dir),
            signing_key_file=signing_key_file or signing_key_path(data_dir),
            digester=PiiDigester.for_data_dir(data_dir),
            checkpoint_every=checkpoint_every,
            checkpoint_interval_s=checkpoint_interval_s,
            external_checkpoint_path=external_checkpoint_path or data_dir / CHECKPOINT_FILE,
            checkpoint_witness_url=checkpoint_witness_url,
            spool=OutcomeSpool.in_data_dir(data_dir),
        )
        log._start(await open_committer(store, log._policy()))
        if recover:
            try:
                # Spooled outcomes first: an intent whose real outcome waits in the spool is not unknown.
                await log.drain_spool()
                await log.recover()
            except BaseException:
                await log.aclose()
                raise
        return log

    def _start(self, committer: BatchCommitter[Any]) -> None:
        loop = asyncio.get_running_loop()
        witness = WitnessPublisher(self._witness_url) if self._witness_url else None
        self._committer = committer
        self._writer = WriterThread(
            committer,
            loop,
            self._deliver,
            self._external,
            witness,
            calls_in_flight=self._count_calls_in_flight,
        )
        self._writer.start()
        self._ticker = asyncio.create_task(self._tick_every_interval(), name="audit-checkpoint-timer")

    # -- public surface -------------------------------------------------------------------------

    @property
    def instance_id(self) -> str:
        return self._instance_id

    @property
    def health(self) -> Health:
        """The last batch's verdict, or a stall if the commit in progress has outrun the store's bounds."""
        writer = self._writer
        started = writer.commit_started if writer is not None else None
        if self._health.ok and started is not None:
            waited = time.monotonic() - started
            if waited > self.stall_after_s:
                return Health(
                    ok=False,
                    reason=f"the audit log is stalled: a commit has waited {waited:.0f} s for the database, "
                    "longer than its wait bounds allow (the database or the network to it is not answering)",
                )
        return self._health

    @property
    def stall_after_s(self) -> float:
        """The longest a commit can take while the database enforces the store's bounds, plus slack:
        the chain lock's wait and one statement."""
        bounds = self._store.bounds
        if self._store.is_sqlite:
            return bounds.sqlite_busy_timeout_s + _STALL_SLACK_S
        return (bounds.lock_timeout_s or 0.0) + (bounds.statement_timeout_s or 0.0) + _STALL_SLACK_S

    async def readiness(self, *, within_s: float | None = None) -> Health:
        """Whether this process can append right now: yes after a commit in the last few seconds (and no
        failure since), otherwise a probe takes the chain lock and commits nothing, within `within_s`
        (default: twice `stall_after_s`, as the probe may queue behind a batch that is waiting too)."""
        if self._closed:
            return Health(ok=False, reason="the audit log is closed")
        health = self.health
        if health.ok and time.monotonic() - self._last_commit <= READY_IF_COMMITTED_WITHIN_S:
            return health
        bound = within_s if within_s is not None else 2 * self.stall_after_s
        try:
            writer = self._running_writer()
        except AuditUnavailableError as exc:
            return Health(ok=False, reason=str(exc))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        writer.submit(Probe(future))
        try:
            with anyio.fail_after(bound):
                await asyncio.shield(future)
        except TimeoutError:
            future.cancel()  # its outcome, when it comes, has no one waiting
            return Health(
                ok=False,
                reason="the audit log is stalled: a probe of the audit chain lock got no answer within "
                f"{bound:g} s",
            )
        except AuditUnavailableError as exc:
            return Health(ok=False, reason=str(exc))
        return self.health

    @contextlib.contextmanager
    def call_in_flight(self) -> Iterator[None]:
        """Around a tool call: tells the writer that appends made meanwhile by other calls are not
        committed alone, but together with the appends of the other calls in flight."""
        self._calls_in_flight += 1
        try:
            yield
        finally:
            self._calls_in_flight -= 1

    def _count_calls_in_flight(self) -> int:
        return self._calls_in_flight

    @property
    def commits(self) -> tuple[int, int]:
        """(batches committed with records, of which inline on the event loop) since the log opened."""
        writer = self._writer
        return (writer.commits, writer.inline_commits) if writer is not None else (0, 0)

    @property
    def committer(self) -> BatchCommitter[Any] | None:
        """What extends the chain while the log is open (its counters tell how batches were committed)."""
        writer = self._writer
        return writer.committer if writer is not None else None

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
        return await self.submit(event)

    def submit(self, event: AuditEvent) -> asyncio.Future[AuditRecord]:
        """Start appending `event` and return at once: the future resolves when the record is durable (or
        fails with `AuditUnavailableError`). Lets a write's intent commit while the call prepares its
        request; records submitted one after another are chained in that order."""
        writer = self._running_writer()
        future: asyncio.Future[AuditRecord] = asyncio.get_running_loop().create_future()
        # Dumped here, outside the chain lock; the writer thread only adds the chain fields and hashes.
        writer.submit(Append(event.model_dump(mode="json"), future))
        return future

    async def append_or_spool(self, event: AuditEvent) -> bool:
        """Append `event`, or, if the store cannot take it, keep it durably in the local spool.

        For the outcome of a call that already reached Persona: it must end in a record whatever the
        store does. Returns True when it was committed, False when it was spooled (it is appended as
        soon as the store is back). Raises `AuditUnavailableError` only if the spool failed too.
        """
        try:
            await self.append(event)
            return True
        except AuditUnavailableError:
            if self._spool is None or self._closed:
                raise
            spool = self._spool
        try:
            await anyio.to_thread.run_sync(spool.put, event)
        except OSError as exc:
            _log.error("audit.spool_failed", error_type=type(exc).__name__)
            raise AuditUnavailableError("the audit store and the local spool both failed") from None
        self._spooled_here = True
        _log.warning("audit.outcome_spooled", kind=event.kind, call_id=event.call_id)
        return False

    async def drain_spool(self) -> int:
        """Append what the spool holds (see `OutcomeSpool.drain`); 0 if there is nothing or no spool."""
        if self._spool is None:
            return 0
        async with self._drain_turn:
            return await self._spool.drain(self.append, self._already_recorded)

    @property
    def store_failing(self) -> bool:
        """Whether the last commit failed (a lagging checkpoint file or witness is not a store failure)."""
        return self._store_failing

    @property
    def queue_depth(self) -> int:
        """Records and requests queued for the writer thread, not yet committed."""
        return self._writer.queue_depth if self._writer is not None else 0

    @property
    def spooled(self) -> int:
        """Records waiting in the spool for the store to come back."""
        return self._spool.pending() if self._spool is not None else 0

    async def _already_recorded(self, event: AuditEvent) -> bool:
        if event.call_id is None:
            return False
        t = audit_records.c
        query = select(t.seq).where(t.call_id == event.call_id).where(t.kind == event.kind).limit(1)
        async with self._store.engine.connect() as conn:
            return (await conn.execute(query)).first() is not None

    def _drain_soon(self) -> None:
        """After a successful commit: drain the spool in the background if it holds anything."""
        if self._spool is None or self._closed or (self._draining is not None and not self._draining.done()):
            return
        if self._drain_turn.locked():  # the drain at start is running: it takes everything spooled
            return
        # Looking costs two stat calls: after every commit when this process spooled something, else at
        # most once a second (another process sharing the data directory may have spooled).
        now = time.monotonic()
        if not self._spooled_here and now < self._next_spool_look:
            return
        self._spooled_here, self._next_spool_look = False, now + SPOOL_LOOK_INTERVAL_S
        if not self._spool.has_entries():
            return
        self._draining = asyncio.create_task(self._drain_quietly(), name="audit-spool-drain")

    async def _drain_quietly(self) -> None:
        try:
            await self.drain_spool()
        except AuditUnavailableError:
            pass  # still failing: the next successful commit tries again
        except Exception as exc:
            _log.error("audit.spool_drain_failed", error_type=type(exc).__name__)

    async def checkpoint(self) -> Checkpoint | None:
        """Sign a checkpoint at the current head now (the existing one if nothing was added since)."""
        writer = self._running_writer()
        future: asyncio.Future[Checkpoint | None] = asyncio.get_running_loop().create_future()
        writer.submit(CheckpointRequest(future))
        return await future

    def _running_writer(self) -> WriterThread:
        if self._closed:
            raise AuditUnavailableError("the audit log is closed")
        if self._writer is None or not self._writer.running:
            self._health = Health(ok=False, reason="the audit writer thread is not running")
            raise AuditUnavailableError("the audit writer thread is not running")
        return self._writer

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
        # Submitted together, so they share commits (and are chained in intent order), instead of one
        # commit after another before the server can serve.
        pending = [self.submit(_outcome_unknown(AuditRecord.from_stored(row.body, row.hash))) for row in rows]
        resolved: list[AuditRecord] = list(await asyncio.gather(*pending))
        if resolved:
            _log.warning(
                "audit.recovered_unresolved_intents", count=len(resolved), instance_id=self._instance_id
            )
        return resolved

    async def aclose(self) -> None:
        """Commit what is queued, sign a final checkpoint, stop the writer."""
        if self._closed:
            return
        if self._draining is not None and not self._draining.done():
            with contextlib.suppress(Exception):
                await self._draining
        self._closed = True
        if self._ticker is not None:
            await cancel_and_wait(self._ticker)
        if self._writer is not None and self._writer.running:
            future: asyncio.Future[Checkpoint | None] = asyncio.get_running_loop().create_future()
            self._writer.submit(CheckpointRequest(future))
            await self._writer.stop()
            if future.done() and future.exception() is not None:
                _log.warning("audit.final_checkpoint_failed", reason=self._health.reason)

    async def __aenter__(self) -> AuditLog:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- writer thread callbacks (run on the loop) ----------------------------------------------

    async def _tick_every_interval(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            if self._writer is not None:
                self._writer.submit(TICK)

    def _deliver(self, outcome: Outcome) -> None:
        """On the loop: resolve the callers of a batch the writer thread committed, or fail them."""
        if outcome.error is not None or outcome.committed is None:
            error = outcome.error or RuntimeError("no result")
            self._fail(outcome.appends, [*outcome.requests, *outcome.probes], error)
            return
        committed = outcome.committed
        self._store_failing = False
        reason = outcome.external_error
        self._health = Health(ok=True) if reason is None else Health(ok=False, reason=reason)
        self._last_commit = time.monotonic()
        for probe in outcome.probes:
            if not probe.future.done():
                probe.future.set_result(None)
        for item, record in zip(outcome.appends, committed.records, strict=True):
            if not item.future.done():
                item.future.set_result(record)
        if outcome.appends:
            self._drain_soon()
        for request in outcome.requests:
            if not request.future.done():
                request.future.set_result(committed.signed or committed.current)

    def _fail(self, appends: list[Append], requests: list[CheckpointRequest | Probe], exc: Exception) -> None:
        cause = exc.orig if hasattr(exc, "orig") and exc.orig is not None else exc
        stall = self._committer.stall_reason(cause) if self._committer is not None else None
        error: type[AuditUnavailableError] = AuditUnavailableError
        if stall is not None:
            reason, error = stall, AuditStalledError
            _log.error("audit.write_stalled", reason=reason, records=len(appends))
        else:
            first_line = str(cause).splitlines()[0] if str(cause) else ""
            reason = f"audit write failed: {type(cause).__name__}: {first_line}"[:300]
            _log.error("audit.write_failed", reason=reason, records=len(appends))
        self._health = Health(ok=False, reason=reason)
        self._store_failing = True
        futures: list[asyncio.Future[Any]] = [item.future for item in appends]
        futures.extend(request.future for request in requests)
        for future in futures:
            if not future.done():
                future.set_exception(error(reason))


__all__ = ["INSTANCE_ID_ENV", "READY_IF_COMMITTED_WITHIN_S", "AuditLog", "Health", "default_instance_id"]
