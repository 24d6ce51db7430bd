"""Webhook endpoints: where Persona delivers, and the signing secrets it signs with, sealed at rest.

An endpoint is this server's side of one Persona webhook: `POST /webhooks/persona/{endpoint id}`. Its
secrets are stored the way upstream credentials are (AES-GCM under the server's secret key, bound to the
row), as the list Persona shows in `attributes.secrets[]`: the current one and, after a rotation, the
previous ones with their `expires-at`. A secret past its `expires-at` no longer verifies anything.

The receiver reads an endpoint's secrets on every delivery; a short cache spares the database and the
cipher under a burst, and a change (a rotation registered by `webhooks connect`) is seen by every
replica within `CACHE_SECONDS`.
"""

from __future__ import annotations

import json
import secrets as token_source
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update

from persona_mcp.admin_events import AdminEventSink
from persona_mcp.auth.credentials.secretbox import SecretBox, associated_data
from persona_mcp.config import Environment
from persona_mcp.store import Store
from persona_mcp.store.schema.events import webhook_endpoints

#: How long a replica trusts the secrets it read (a rotation elsewhere is seen within this).
CACHE_SECONDS = 2.0
ENDPOINT_PREFIX = "whe_"


@dataclass(frozen=True, slots=True)
class EndpointSecret:
    """One signing secret and when it stops being valid (None: until rotated away)."""

    value: str
    expires_at: datetime | None = None

    def valid_at(self, moment: datetime) -> bool:
        return self.expires_at is None or moment < self.expires_at


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An endpoint as the receiver needs it: where it belongs and its secrets (never logged)."""

    id: str
    environment: Environment
    webhook_id: str | None
    secrets: tuple[EndpointSecret, ...]

    def valid_secrets(self, moment: datetime) -> list[str]:
        return [secret.value for secret in self.secrets if secret.valid_at(moment)]


def new_endpoint_id() -> str:
    return ENDPOINT_PREFIX + token_source.token_hex(12)


def is_endpoint_id(text: str) -> bool:
    tail = text[len(ENDPOINT_PREFIX) :]
    return (
        text.startswith(ENDPOINT_PREFIX)
        and 8 <= len(tail) <= 32
        and all(c in "0123456789abcdef" for c in tail)
    )


def secrets_from_webhook(attributes: dict[str, object]) -> list[EndpointSecret]:
    """The secrets a Persona webhook object lists (`secrets[]`, else the deprecated `secret`)."""
    listed = attributes.get("secrets")
    found: list[EndpointSecret] = []
    if isinstance(listed, list):
        for entry in listed:
            if isinstance(entry, dict) and isinstance(entry.get("value"), str):
                expires = entry.get("expires-at") or entry.get("expires_at")
                found.append(EndpointSecret(entry["value"], _parse_time(expires)))
    if not found and isinstance(attributes.get("secret"), str):
        found.append(EndpointSecret(str(attributes["secret"])))
    return found


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _aad(endpoint_id: str, environment: Environment) -> bytes:
    return associated_data("webhook_endpoint", endpoint_id, environment.value, "secrets")


class EndpointStore:
    """Reads and writes endpoints; secrets are sealed with the credentials' `SecretBox`."""

    def __init__(self, store: Store, box: SecretBox, *, events: AdminEventSink | None = None) -> None:
        self._store = store
        self._box = box
        self._events = events
        self._cache: dict[str, tuple[float, Endpoint | None]] = {}

    def _seal(self, endpoint_id: str, environment: Environment, secrets: Sequence[EndpointSecret]) -> bytes:
        listed = [
            {"value": s.value, "expires-at": s.expires_at.isoformat() if s.expires_at else None}
            for s in secrets
        ]
        return self._box.seal(json.dumps(listed), _aad(endpoint_id, environment))

    async def save(
        self,
        *,
        environment: Environment,
        secrets: Sequence[EndpointSecret],
        actor: str,
        endpoint_id: str | None = None,
        webhook_id: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> str:
        """Create an endpoint, or replace the secrets of an existing one (a rotation); returns its id."""
        if not secrets:
            raise ValueError("an endpoint needs at least one signing secret")
        now = datetime.now(UTC)
        existing = await self.get(endpoint_id, fresh=True) if endpoint_id else None
        endpoint_id = endpoint_id or new_endpoint_id()
        sealed = self._seal(endpoint_id, environment, secrets)
        async with self._store.engine.begin() as conn:
            if existing is None:
                await conn.execute(
                    insert(webhook_endpoints).values(
                        id=endpoint_id,
                        environment=environment.value,
                        webhook_id=webhook_id,
                        key_id=self._box.current_key_id,
                        secrets=sealed,
                        created_at=now,
                        created_by=actor,
                        updated_at=now,
                    )
                )
            else:
                if existing.environment is not environment:
                    raise ValueError(f"endpoint {endpoint_id} belongs to {existing.environment.value}")
                await conn.execute(
                    update(webhook_endpoints)
                    .where(webhook_endpoints.c.id == endpoint_id)
                    .values(
                        key_id=self._box.current_key_id,
                        secrets=sealed,
                        webhook_id=webhook_id or existing.webhook_id,
                        updated_at=now,
                        version=webhook_endpoints.c.version + 1,
                    )
                )
        self._cache.pop(endpoint_id, None)
        if self._events is not None:
            await self._events.admin_event(
                action="webhook.endpoint_saved",
                actor=actor,
                target=endpoint_id,
                details={
                    "environment": environment.value,
                    "webhook_id": webhook_id,
                    "secrets": len(secrets),
                    "rotation": existing is not None,
                    **(details or {}),
                },
            )
        return endpoint_id

    async def get(self, endpoint_id: str | None, *, fresh: bool = False) -> Endpoint | None:
        """The endpoint, or None; cached for `CACHE_SECONDS` unless `fresh`."""
        if not endpoint_id or not is_endpoint_id(endpoint_id):
            return None
        moment = time.monotonic()
        cached = self._cache.get(endpoint_id)
        if cached is not None and not fresh and moment - cached[0] < CACHE_SECONDS:
            return cached[1]
        async with self._store.engine.connect() as conn:
            row = (
                await conn.execute(select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id))
            ).first()
        endpoint = None
        if row is not None:
            environment = Environment(row.environment)
            opened = json.loads(self._box.open(row.key_id, row.secrets, _aad(row.id, environment)))
            endpoint = Endpoint(
                id=row.id,
                environment=environment,
                webhook_id=row.webhook_id,
                secrets=tuple(EndpointSecret(e["value"], _parse_time(e.get("expires-at"))) for e in opened),
            )
        if len(self._cache) > 1024:
            self._cache.clear()
        self._cache[endpoint_id] = (moment, endpoint)
        return endpoint

    async def reseal(self, new_box: SecretBox) -> int:
        """Re-encrypt every endpoint's secrets under `new_box`'s current key (`credentials rotate-key`);
        `new_box` holds the old key too. Returns the rows changed."""
        target = new_box.current_key_id
        async with self._store.engine.connect() as conn:
            rows = (
                await conn.execute(select(webhook_endpoints).where(webhook_endpoints.c.key_id != target))
            ).all()
        for row in rows:
            aad = _aad(row.id, Environment(row.environment))
            sealed = new_box.seal(new_box.open(row.key_id, row.secrets, aad), aad)
            async with self._store.engine.begin() as conn:
                await conn.execute(
                    update(webhook_endpoints)
                    .where(webhook_endpoints.c.id == row.id, webhook_endpoints.c.version == row.version)
                    .values(key_id=target, secrets=sealed, version=row.version + 1)
                )
        self._cache.clear()
        return len(rows)

    async def find_by_webhook(self, webhook_id: str) -> str | None:
        async with self._store.engine.connect() as conn:
            found = await conn.scalar(
                select(webhook_endpoints.c.id).where(webhook_endpoints.c.webhook_id == webhook_id)
            )
        return str(found) if found is not None else None
