"""Tables of the built-in OAuth 2.1 authorization server (issue 14).

Nothing here holds a usable secret: codes, access and refresh tokens and the handles of pending consent
requests are stored as SHA-256 digests of 256-bit random values (so a fast unsalted hash is enough, and
the digest is the lookup key), and a confidential client's secret is an AES-GCM ciphertext under the
server's secret key (the SDK's client authentication compares the clear secret, so it cannot be a digest).

Every token belongs to a `family_id`: the tokens issued from one authorization code and all their
refreshes. A replayed refresh token or code revokes its whole family.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, CheckConstraint, Column, Index, LargeBinary, String, Table, Text

from persona_mcp.store.metadata import metadata
from persona_mcp.store.schema.types import UtcDateTime

oauth_clients = Table(
    "oauth_clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("client_name", String(200), nullable=True),
    Column("client_metadata", JSON, nullable=False),
    Column("secret_key_id", String(32), nullable=True),
    Column("secret", LargeBinary, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
)

oauth_authorizations = Table(
    "oauth_authorizations",
    metadata,
    Column("handle_digest", LargeBinary(32), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("params", JSON, nullable=False),
    Column("csrf_digest", LargeBinary(32), nullable=False),
    Column("grant_id", String(40), nullable=True),
    Column("upstream_state_digest", LargeBinary(32), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
)

oauth_codes = Table(
    "oauth_codes",
    metadata,
    Column("code_digest", LargeBinary(32), primary_key=True),
    Column("family_id", String(40), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("grant_id", String(40), nullable=False),
    Column("person", String(200), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("code_challenge", String(128), nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("redirect_uri_explicit", Boolean, nullable=False),
    Column("resource", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime, nullable=True),
)

oauth_tokens = Table(
    "oauth_tokens",
    metadata,
    Column("token_digest", LargeBinary(32), primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("family_id", String(40), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("grant_id", String(40), nullable=False),
    Column("person", String(200), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("resource", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
    CheckConstraint("kind IN ('access', 'refresh')", name="kind"),
    Index("ix_oauth_tokens_family_id", "family_id"),
    Index("ix_oauth_tokens_grant_id", "grant_id"),
    Index("ix_oauth_tokens_client_id", "client_id"),
)

__all__ = ["metadata", "oauth_authorizations", "oauth_clients", "oauth_codes", "oauth_tokens"]
