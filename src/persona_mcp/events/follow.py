"""Following a secret rotation done in Persona (the dashboard, or `rotate_webhook_secret`) by itself.

While a rotation is in its grace period Persona signs with the new and the old secret, so deliveries keep
verifying against the secret stored at `webhooks connect`. Once the old one expires Persona signs with the
new one only. So when a delivery for an endpoint connected to a known webhook fails to verify, the
receiver reads the webhook from Persona (with the environment's default credential), stores the secrets
it lists, and verifies the delivery again: at most once per endpoint per `MIN_INTERVAL_SECONDS`, so a
stream of forged deliveries cannot turn into a stream of Persona calls. The stored change is an audit
record (`admin.webhook.endpoint_saved`, actor `persona-webhook-rotation`, the Persona request id).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from persona_mcp.auth.credentials import CredentialResolver
from persona_mcp.events.endpoints import Endpoint, EndpointStore, secrets_from_webhook
from persona_mcp.persona.client import PersonaClient
from persona_mcp.persona.envelope import Resource

_log = structlog.get_logger("persona_mcp.events")

MIN_INTERVAL_SECONDS = 60.0
ACTOR = "persona-webhook-rotation"

Refresher = Callable[[Endpoint], Awaitable[Endpoint | None]]


@dataclass
class RotationFollower:
    """The receiver's `refresh`: re-read an endpoint's webhook from Persona, rate-limited per endpoint."""

    endpoints: EndpointStore
    credentials: CredentialResolver
    persona: PersonaClient
    min_interval_seconds: float = MIN_INTERVAL_SECONDS
    clock: Callable[[], float] = time.monotonic
    _last: dict[str, float] = field(default_factory=dict)

    async def __call__(self, endpoint: Endpoint) -> Endpoint | None:
        if endpoint.webhook_id is None:
            return None
        now = self.clock()
        last = self._last.get(endpoint.id)
        if last is not None and now - last < self.min_interval_seconds:
            return None
        self._last[endpoint.id] = now
        try:
            provider = await self.credentials.provider_for(endpoint.environment, "")
            client = self.persona.bind(credentials=provider, rate_budget=endpoint.environment.value)
            response = await client.get(f"/webhooks/{endpoint.webhook_id}")
        except Exception as exc:  # Persona or the credential unavailable: the delivery stays refused
            _log.warning(
                "webhook.secret_refresh_failed", endpoint_id=endpoint.id, error_type=type(exc).__name__
            )
            return None
        webhook = response.document.data
        if not isinstance(webhook, Resource):
            return None
        secrets = secrets_from_webhook(dict(webhook.attributes))
        if not secrets or {s.value for s in secrets} == {s.value for s in endpoint.secrets}:
            return None
        await self.endpoints.save(
            endpoint_id=endpoint.id,
            environment=endpoint.environment,
            secrets=secrets,
            actor=ACTOR,
            webhook_id=endpoint.webhook_id,
            details={"persona_request_id": response.request_id},
        )
        return await self.endpoints.get(endpoint.id, fresh=True)
