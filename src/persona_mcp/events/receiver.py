"""`POST /webhooks/persona/{endpoint_id}`: Persona's deliveries, verified, stored once, audited.

Unauthenticated, as Persona delivers, so everything about a delivery is checked before it is believed:
the endpoint must exist, the body must fit under the cap (read no further than the cap), the
`Persona-Signature` must verify against one of the endpoint's valid secrets with a fresh timestamp, and
the body must be a Persona event. Every receipt ends in an audit record (kind `admin.webhook.received`
or `admin.webhook.refused` with the reason), before the answer: if the record cannot be written the
delivery is answered 503, so Persona retries it later (a retry is stored once). Records carry ids,
names and times in clear (they are not personal data) and the sender's address as a keyed digest; never
the payload.

Answers: 200 when stored or already stored (so Persona stops retrying), 400 for a verified body that
is not an event, 401 for a signature refused, 404 for an unknown endpoint, 413 for an oversized body.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from persona_mcp.audit import AuditEvent, AuditLog, AuditUnavailableError
from persona_mcp.events.endpoints import Endpoint, EndpointStore
from persona_mcp.events.hub import EventHub
from persona_mcp.events.signature import DEFAULT_TOLERANCE_SECONDS, SignatureRefused, verify
from persona_mcp.events.store import EventNotice, EventStore, IncomingEvent, MalformedEvent, read_event

_log = structlog.get_logger("persona_mcp.events")

PATH = "/webhooks/persona/{endpoint_id}"
RECEIVE = "webhooks/receive"
ACTOR = "persona-webhook"


@dataclass(frozen=True, slots=True)
class ReceiverLimits:
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS
    max_body_bytes: int = 1_048_576


#: Refusals a newer secret could cure (a stale timestamp or a malformed header it cannot).
_ROTATION_SYMPTOMS = frozenset({"signature mismatch", "no valid secret for this endpoint"})


class _Refused(Exception):
    def __init__(self, status: int, reason: str, **details: Any) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.details = details


class WebhookReceiver:
    """The Starlette endpoint; one per server, shared by every endpoint id."""

    def __init__(
        self,
        *,
        endpoints: EndpointStore,
        store: EventStore,
        hub: EventHub,
        audit: AuditLog,
        limits: ReceiverLimits | None = None,
        clock: Callable[[], float] = time.time,
        refresh: Callable[[Endpoint], Awaitable[Endpoint | None]] | None = None,
    ) -> None:
        self._endpoints = endpoints
        self._store = store
        self._hub = hub
        self._audit = audit
        self._limits = limits or ReceiverLimits()
        self._clock = clock
        #: Re-reads an endpoint's secrets from Persona when a delivery does not verify (`events.follow`).
        self.refresh = refresh

    async def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        endpoint_id = str(request.path_params.get("endpoint_id", ""))[:64]
        details: dict[str, Any] = {"endpoint_id": endpoint_id}
        if request.client is not None:
            details["source"] = self._audit.digester.digest(request.client.host)
        for header in ("persona-webhook-attempts-made", "persona-webhook-attempts-left"):
            value = request.headers.get(header, "")
            if value.isdigit() and len(value) < 6:
                details[header.removeprefix("persona-webhook-").replace("-", "_")] = int(value)
        try:
            event, stored, environment = await self._receive(request, endpoint_id, details)
        except _Refused as refused:
            details.update(refused.details)
            recorded = await self._record(
                "admin.webhook.refused",
                endpoint_id,
                details,
                started,
                decision="denied",
                reason=refused.reason,
            )
            if not recorded:
                return _answer(503, "the audit log is unavailable; deliver again later")
            return _answer(refused.status, refused.reason)
        details |= {
            "event_name": event.name,
            "created_at": event.created_at.isoformat(),
            "duplicate": not stored,
        }
        recorded = await self._record(
            "admin.webhook.received",
            endpoint_id,
            details,
            started,
            decision="allowed",
            reason="duplicate delivery (already stored)" if not stored else None,
            object_ids=[i for i in (event.event_id, event.object_id) if i],
        )
        if not recorded:
            return _answer(503, "the audit log is unavailable; deliver again later")
        if stored:
            self._hub.publish(
                EventNotice(event.event_id, event.name, event.object_id, environment, event.created_at)
            )
        return JSONResponse({"received": True, "event_id": event.event_id, "duplicate": not stored})

    async def _receive(
        self, request: Request, endpoint_id: str, details: dict[str, Any]
    ) -> tuple[IncomingEvent, bool, str]:
        endpoint = await self._endpoints.get(endpoint_id)
        if endpoint is None:
            raise _Refused(404, "unknown endpoint")
        details["environment"] = endpoint.environment.value
        body = await self._read_capped(request)
        details["body_bytes"] = len(body)
        now = self._clock()
        try:
            self._verify(request, body, endpoint, now)
        except SignatureRefused as refused:
            # Persona may have rotated the secret and let the old one expire: read it again, once.
            renewed = None
            if refused.reason in _ROTATION_SYMPTOMS and self.refresh is not None:
                renewed = await self.refresh(endpoint)
            if renewed is None:
                raise _Refused(401, refused.reason) from None
            details["secrets_refreshed"] = True
            try:
                self._verify(request, body, renewed, now)
            except SignatureRefused as again:
                raise _Refused(401, again.reason) from None
        try:
            event = read_event(json.loads(body))
        except (ValueError, MalformedEvent) as exc:
            reason = str(exc) if isinstance(exc, MalformedEvent) else "body is not JSON"
            raise _Refused(400, f"not a Persona event: {reason}") from None
        try:
            stored = await self._store.record(
                event,
                endpoint_id=endpoint.id,
                environment=endpoint.environment.value,
                received_at=datetime.fromtimestamp(now, UTC),
            )
        except SQLAlchemyError as exc:
            # Persona retries a delivery answered 5xx: nothing is lost by refusing it now.
            _log.warning("webhook event not stored; answering 503", error_type=type(exc).__name__)
            raise _Refused(
                503, "event store unavailable; deliver again later", event_id=event.event_id
            ) from None
        return event, stored, endpoint.environment.value

    def _verify(self, request: Request, body: bytes, endpoint: Endpoint, now: float) -> None:
        verify(
            request.headers.get("persona-signature"),
            body,
            endpoint.valid_secrets(datetime.fromtimestamp(now, UTC)),
            now=now,
            tolerance_seconds=self._limits.tolerance_seconds,
        )

    async def _read_capped(self, request: Request) -> bytes:
        cap = self._limits.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise _Refused(413, f"body larger than {cap} bytes", body_bytes=int(declared))
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > cap:
                    raise _Refused(413, f"body larger than {cap} bytes")
                chunks.append(chunk)
        except ClientDisconnect:
            raise _Refused(400, "body not received (client disconnected)") from None
        return b"".join(chunks)

    async def _record(
        self,
        kind: str,
        endpoint_id: str,
        details: dict[str, Any],
        started: float,
        *,
        decision: str,
        reason: str | None,
        object_ids: list[str] | None = None,
    ) -> bool:
        event = AuditEvent(
            kind=kind,
            actor=ACTOR,
            tool=RECEIVE,
            target=endpoint_id or None,
            decision=decision,
            reason=reason,
            object_ids=object_ids or [],
            outcome="ok" if decision == "allowed" else "error",
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            details=details,
        )
        try:
            await self._audit.append(event)
        except AuditUnavailableError:
            _log.error("webhook receipt not recorded; answering 503", kind=kind)
            return False
        return True


def _answer(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"received": False, "error": reason}, status_code=status)
