"""A checkpoint witness: another party that receives every signed checkpoint as it is made.

A witness is any HTTP endpoint that accepts a POST of one checkpoint's JSON (the same object as a line
of `audit-checkpoints.jsonl`) and keeps it where the server's operator cannot rewrite it. What it
collected, exported as JSON lines, is what `persona-mcp audit verify --checkpoint FILE` checks the log
against; see docs/audit.md for what that proves.

Delivery runs on a thread of its own, in signing order, so that neither the audit writer nor the event
loop ever waits on the network. A checkpoint the witness did not take (unreachable, non-2xx) stays first
in line and is retried; meanwhile `problem` says so, and the audit log reports itself unhealthy with that
reason. The URL may carry credentials, so it never appears in a reason, a log line or an error.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable

import httpx2
import structlog

from persona_mcp.audit.checkpoint import Checkpoint, is_witness_url

_log = structlog.get_logger("persona_mcp.audit")

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_RETRY_S = 2.0


class WitnessPublisher:
    """POSTs signed checkpoints to one witness URL, in order, from its own thread."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retry_after_s: float = DEFAULT_RETRY_S,
        transport: httpx2.BaseTransport | None = None,
    ) -> None:
        if not is_witness_url(url):
            raise ValueError("a checkpoint witness is an http:// or https:// URL")
        self._url = url
        self._retry_after = retry_after_s
        self._client = httpx2.Client(timeout=timeout_s, transport=transport)
        self._queue: deque[Checkpoint] = deque()
        self._changed = threading.Condition()
        self._stopping = False
        self._problem: str | None = None
        self._thread = threading.Thread(target=self._run, name="audit-witness", daemon=True)
        self._thread.start()

    @property
    def problem(self) -> str | None:
        """Why the witness is behind (it has not taken every checkpoint), or None."""
        return self._problem

    @property
    def pending(self) -> int:
        """Checkpoints signed but not yet taken by the witness."""
        return len(self._queue)

    def publish(self, checkpoints: Iterable[Checkpoint]) -> None:
        """Queue `checkpoints` for delivery (returns at once)."""
        with self._changed:
            self._queue.extend(checkpoints)
            self._changed.notify()

    def close(self, timeout_s: float = DEFAULT_TIMEOUT_S * 2) -> None:
        """Deliver what is queued if the witness takes it within `timeout_s`, then stop."""
        with self._changed:
            self._stopping = True
            self._changed.notify()
        self._thread.join(timeout_s)
        if self._queue:
            _log.error("audit.witness_behind_at_close", pending=len(self._queue))

    def _run(self) -> None:
        try:
            while True:
                with self._changed:
                    while not self._queue and not self._stopping:
                        self._changed.wait()
                    if not self._queue:
                        return
                    checkpoint = self._queue[0]
                problem = self._deliver(checkpoint)
                with self._changed:
                    self._problem = problem
                    if problem is None:
                        self._queue.popleft()
                        continue
                    if self._stopping:
                        return
                    self._changed.wait(self._retry_after)
        finally:
            self._client.close()

    def _deliver(self, checkpoint: Checkpoint) -> str | None:
        try:
            response = self._client.post(
                self._url,
                content=checkpoint.model_dump_json(),
                headers={"content-type": "application/json"},
            )
        except httpx2.HTTPError as exc:
            problem = f"checkpoint witness unreachable: {type(exc).__name__}"
        else:
            if response.is_success:
                return None
            problem = f"checkpoint witness refused checkpoint {checkpoint.seq}: HTTP {response.status_code}"
        if problem != self._problem:
            _log.error("audit.witness_failed", reason=problem, pending=len(self._queue))
        return problem


__all__ = ["WitnessPublisher"]
