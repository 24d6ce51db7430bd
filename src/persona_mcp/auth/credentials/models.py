"""What a stored credential is: its kind, its state, and the decrypted secrets (kept in `SecretStr`).

`CredentialInfo` carries everything an admin may see (it is what `credentials list` prints);
`StoredCredential` adds the opened secrets and is only handed to the providers that use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import SecretStr

from persona_mcp.auth.environment import Environment


class CredentialKind(StrEnum):
    #: A Persona API key: static, never refreshed.
    API_KEY = "api_key"
    #: OAuth 2 client credentials against a token endpoint (Persona's /oauth/token or a gateway).
    OAUTH_CLIENT = "oauth_client"
    #: A Persona authorization-code access token: fixed lifetime (one hour), cannot be refreshed.
    ACCESS_TOKEN = "access_token"


class CredentialStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class ClientAuthMethod(StrEnum):
    """How an OAuth client proves itself to the token endpoint (RFC 6749 / RFC 7523)."""

    CLIENT_SECRET_POST = "client_secret_post"
    CLIENT_SECRET_BASIC = "client_secret_basic"
    PRIVATE_KEY_JWT = "private_key_jwt"


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    """A credential's public description: never a secret."""

    id: str
    environment: Environment
    principal: str | None
    kind: CredentialKind
    status: CredentialStatus
    disabled_reason: str | None
    key_id: str
    version: int
    access_expires_at: datetime | None
    last_refreshed_at: datetime | None
    token_url: str | None
    client_id: str | None
    auth_method: ClientAuthMethod | None
    scope: str | None
    created_at: datetime
    created_by: str
    updated_at: datetime

    @property
    def label(self) -> str:
        """How messages name it: 'the production OAuth credential (principal alice)'."""
        kind = {
            CredentialKind.API_KEY: "API key",
            CredentialKind.OAUTH_CLIENT: "OAuth credential",
            CredentialKind.ACCESS_TOKEN: "access token",
        }[self.kind]
        owner = f" for principal {self.principal}" if self.principal else ""
        return f"the {self.environment.value} {kind}{owner}"

    def public_dict(self) -> dict[str, Any]:
        """JSON-ready view for `credentials list --json`."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "environment": self.environment.value,
            "principal": self.principal,
            "status": self.status.value,
            "disabled_reason": self.disabled_reason,
            "expires_at": _iso(self.access_expires_at),
            "last_refreshed_at": _iso(self.last_refreshed_at),
            "token_url": self.token_url,
            "client_id": self.client_id,
            "auth_method": self.auth_method.value if self.auth_method else None,
            "scope": self.scope,
            "key_id": self.key_id,
            "version": self.version,
            "created_at": _iso(self.created_at),
            "created_by": self.created_by,
        }


@dataclass(frozen=True, slots=True)
class StoredCredential:
    """A credential with its secrets opened.

    `secret` is the API key, the OAuth client secret or private key (PEM), or the authorization-code
    access token, depending on `info.kind`. `access_token`/`refresh_token` are the OAuth client's
    current tokens, shared through the store by every process.
    """

    info: CredentialInfo
    secret: SecretStr
    access_token: SecretStr | None
    refresh_token: SecretStr | None

    def __repr__(self) -> str:
        return f"StoredCredential(info={self.info!r}, secrets=<hidden>)"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
