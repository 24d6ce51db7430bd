"""Webhook delivery, as Persona delivers: to enabled webhooks, signed, retried, sometimes twice or late.

When an event is recorded, every enabled webhook whose `enabled-events` names it (or `*`) gets a POST of
the event object (`{"data": <event>}`, keys in the webhook's `api-key-inflection`) with
`Persona-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, one pair per secret still valid
(two during a rotation), and the `Persona-Webhook-Attempts-*` headers. 200, 201, 202 and 204 count as
delivered; anything else (or no answer within 5 s) is retried up to 7 more times, Persona's delays
(3 s, 64 s, 729 s, ...) multiplied by `Faults.webhook_retry_scale`. Disabling or archiving a webhook
cancels its pending retries.

Faults for receivers' tests: `webhook_duplicate_rate` sends a delivery twice, `webhook_reorder_rate`
holds one back until the next has gone out, so a receiver sees the later event first.

The signing is written here again rather than imported from the server: the sandbox stands in for
Persona, and sharing the server's code would hide a mismatch.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx2

from persona_mcp.sandbox.inflection import inflect

if TYPE_CHECKING:
    from persona_mcp.sandbox.records import Record
    from persona_mcp.sandbox.store import SandboxState

#: Seconds between attempts (Persona's documented schedule, roughly 2 days in all).
RETRY_DELAYS = (3, 64, 729, 4096, 15625, 46656, 117649)
SUCCESS = frozenset({200, 201, 202, 204})
TIMEOUT_SECONDS = 5.0
#: A held-back delivery waits at most this long for a later one to overtake it.
HOLD_SECONDS = 0.2


@dataclass
class Delivery:
    webhook_id: str
    url: str
    body: bytes
    headers: dict[str, str]
    event_id: str
    attempts_made: int = 0
    first_attempted_at: int | None = None


def _sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def _valid_secrets(webhook: Record, moment: datetime) -> list[str]:
    valid = []
    for entry in webhook.attributes.get("secrets") or []:
        expires = entry.get("expires-at")
        if expires is None or datetime.fromisoformat(expires.replace("Z", "+00:00")) > moment:
            valid.append(entry["value"])
    return valid


def _subscribed(webhook: Record, name: str) -> bool:
    enabled = webhook.attributes.get("enabled-events") or []
    return webhook.attributes.get("status") == "enabled" and ("*" in enabled or name in enabled)


class WebhookDeliverer:
    """Queues each event for its webhooks and sends them from one worker task, in event order
    (unless a reorder fault holds one back)."""

    def __init__(self, state: SandboxState, transport: httpx2.AsyncBaseTransport | None = None) -> None:
        self._state = state
        self._transport = transport
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._retries: set[asyncio.Task[None]] = set()
        self._rng = random.Random(f"webhooks:{state.rng_seed}")
        self._client: httpx2.AsyncClient | None = None
        #: Every attempt made (webhook id, event id, status or None): what tests and the control API see.
        self.attempts: list[tuple[str, str, int | None]] = []

    def on_event(self, event: Record) -> None:
        """Called as the event is recorded: queue it for every webhook subscribed to its name."""
        name = event.attributes["name"]
        for webhook in list(self._state.records.values()):
            if webhook.type != "webhook" or not _subscribed(webhook, name):
                continue
            document = inflect(
                {"data": event.resource()}, webhook.attributes.get("api-key-inflection", "kebab")
            )
            headers = {"content-type": "application/json", "user-agent": "Persona-Sandbox-Webhooks"}
            custom = webhook.internal.get("custom-http-headers")
            if isinstance(custom, dict):
                headers.update({str(k): str(v) for k, v in custom.items()})
            self._queue.put_nowait(
                Delivery(
                    webhook_id=webhook.id,
                    url=webhook.attributes["url"],
                    body=json.dumps(document, separators=(",", ":")).encode(),
                    headers=headers,
                    event_id=event.id,
                )
            )
        if not self._queue.empty() and (self._worker is None or self._worker.done()):
            self._worker = asyncio.get_running_loop().create_task(self._work())

    async def _work(self) -> None:
        held: Delivery | None = None
        while True:
            try:
                job = await asyncio.wait_for(self._queue.get(), HOLD_SECONDS if held else None)
            except TimeoutError:
                job = None
            if job is None:  # nothing overtook the held delivery in time: send it now
                assert held is not None
                await self._send(held)
                held = None
                continue
            faults = self._state.faults
            if (
                held is None
                and faults.webhook_reorder_rate
                and self._rng.random() < faults.webhook_reorder_rate
            ):
                held = job
                continue
            await self._send(job)
            if faults.webhook_duplicate_rate and self._rng.random() < faults.webhook_duplicate_rate:
                await self._send(job, duplicate=True)
            if held is not None:
                await self._send(held)
                held = None
            if self._queue.empty() and held is None:
                return

    def _live(self, delivery: Delivery) -> Record | None:
        webhook = self._state.records.get(delivery.webhook_id)
        if webhook is None or webhook.attributes.get("status") != "enabled":
            return None  # disabled or archived: pending retries are cancelled
        return webhook

    async def _send(self, delivery: Delivery, *, duplicate: bool = False) -> None:
        webhook = self._live(delivery)
        if webhook is None:
            return
        now = time.time()
        timestamp = int(now)
        if delivery.first_attempted_at is None:
            delivery.first_attempted_at = timestamp
        if not duplicate:
            delivery.attempts_made += 1
        secrets = _valid_secrets(webhook, datetime.fromtimestamp(now, UTC))
        signature = " ".join(f"t={timestamp},v1={_sign(s, timestamp, delivery.body)}" for s in secrets)
        headers = {
            **delivery.headers,
            "persona-signature": signature,
            "persona-webhook-attempts-made": str(delivery.attempts_made),
            "persona-webhook-attempts-left": str(len(RETRY_DELAYS) + 1 - delivery.attempts_made),
            "persona-webhook-first-attempted-at": str(delivery.first_attempted_at),
        }
        status: int | None = None
        try:
            response = await self._http().post(delivery.url, content=delivery.body, headers=headers)
            status = response.status_code
        except httpx2.HTTPError:
            status = None
        self.attempts.append((delivery.webhook_id, delivery.event_id, status))
        self._state.counters["webhook_deliveries"] += 1
        if status in SUCCESS or duplicate or delivery.attempts_made > len(RETRY_DELAYS):
            return
        delay = RETRY_DELAYS[delivery.attempts_made - 1] * self._state.faults.webhook_retry_scale
        task = asyncio.get_running_loop().create_task(self._retry(delivery, delay))
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def _retry(self, delivery: Delivery, delay: float) -> None:
        await asyncio.sleep(delay)
        await self._send(delivery)

    def _http(self) -> httpx2.AsyncClient:
        if self._client is None:
            self._client = httpx2.AsyncClient(transport=self._transport, timeout=TIMEOUT_SECONDS)
        return self._client

    async def idle(self) -> None:
        """Wait until nothing is queued, in flight or waiting for a retry (tests, benchmarks)."""
        while (
            (self._worker is not None and not self._worker.done()) or self._retries or not self._queue.empty()
        ):
            await asyncio.sleep(0.01)
