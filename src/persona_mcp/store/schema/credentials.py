"""Tables of the credentials component: one row per upstream Persona credential.

Secrets (`secret`, `access_token`, `refresh_token`) are AES-GCM ciphertexts (see
`persona_mcp.auth.credentials.secretbox`) under the key named by `key_id`; the key itself is never
stored here. `version` is bumped by every change so token rotation can compare-and-swap; `status`
and `disabled_reason` record a credential that Persona (or its token endpoint) has rejected for good.
At most one credential exists per (environment, principal), with a NULL principal meaning the
environment's default.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    func,
)

from persona_mcp.store.metadata import metadata
from persona_mcp.store.schema.types import UtcDateTime

credentials = Table(
    "credentials",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("environment", String(16), nullable=False),
    Column("principal", String(255), nullable=True),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("disabled_reason", Text, nullable=True),
    Column("key_id", String(32), nullable=False),
    Column("secret", LargeBinary, nullable=False),
    Column("access_token", LargeBinary, nullable=True),
    Column("refresh_token", LargeBinary, nullable=True),
    Column("access_expires_at", UtcDateTime, nullable=True),
    Column("token_url", Text, nullable=True),
    Column("client_id", String(255), nullable=True),
    Column("auth_method", String(32), nullable=True),
    Column("scope", Text, nullable=True),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("last_refreshed_at", UtcDateTime, nullable=True),
    CheckConstraint("environment IN ('sandbox', 'production')", name="environment"),
    CheckConstraint("kind IN ('api_key', 'oauth_client', 'access_token')", name="kind"),
    CheckConstraint("status IN ('active', 'disabled')", name="status"),
)

#: One credential per (environment, principal); COALESCE makes the environment default (NULL) unique too.
Index(
    "uq_credentials_environment_principal",
    credentials.c.environment,
    func.coalesce(credentials.c.principal, ""),
    unique=True,
)

__all__ = ["credentials", "metadata"]
