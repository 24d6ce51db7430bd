"""Tables of the events component: the webhook endpoints Persona delivers to, and the events received.

`webhook_endpoints.secrets` is the AES-GCM ciphertext (see `persona_mcp.auth.credentials.secretbox`) of the
JSON list of the endpoint's signing secrets with their `expires-at`, under the key named by `key_id`.
`webhook_events` holds each verified event once (its Persona id is the primary key, so a replayed or
retried delivery received by any replica is stored once), with Persona's `created-at` (the order events
are shown in) and the time it was received (what retention counts from). `payload` is the sealed event
object, or NULL when the server is set to keep no payloads.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, LargeBinary, String, Table

from persona_mcp.store.metadata import metadata
from persona_mcp.store.schema.types import UtcDateTime

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("environment", String(16), nullable=False),
    Column("webhook_id", String(64), nullable=True),
    Column("key_id", String(32), nullable=False),
    Column("secrets", LargeBinary, nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("endpoint_id", String(40), nullable=False),
    Column("environment", String(16), nullable=False),
    Column("name", String(128), nullable=False),
    Column("object_id", String(64), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("key_id", String(32), nullable=True),
    Column("payload", LargeBinary, nullable=True),
)

Index("ix_webhook_events_object", webhook_events.c.object_id, webhook_events.c.created_at)
Index("ix_webhook_events_name", webhook_events.c.name, webhook_events.c.created_at)
Index("ix_webhook_events_created", webhook_events.c.created_at)
Index("ix_webhook_events_received", webhook_events.c.received_at)

__all__ = ["metadata", "webhook_endpoints", "webhook_events"]
