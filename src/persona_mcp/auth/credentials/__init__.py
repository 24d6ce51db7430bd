"""Upstream Persona credentials: stored per environment and principal, sealed at rest, refreshed safely."""

from persona_mcp.auth.credentials.errors import CredentialNotFoundError, CredentialUnavailableError
from persona_mcp.auth.credentials.models import (
    ClientAuthMethod,
    CredentialInfo,
    CredentialKind,
    CredentialStatus,
    StoredCredential,
)
from persona_mcp.auth.credentials.providers import AccessTokenCredential, OAuthCredential
from persona_mcp.auth.credentials.resolver import CredentialResolver, open_credential_resolver
from persona_mcp.auth.credentials.secretbox import SecretBox, SecretBoxError, load_secret_box
from persona_mcp.auth.credentials.store import CredentialStore

__all__ = [
    "AccessTokenCredential",
    "ClientAuthMethod",
    "CredentialInfo",
    "CredentialKind",
    "CredentialNotFoundError",
    "CredentialResolver",
    "CredentialStatus",
    "CredentialStore",
    "CredentialUnavailableError",
    "OAuthCredential",
    "SecretBox",
    "SecretBoxError",
    "StoredCredential",
    "load_secret_box",
    "open_credential_resolver",
]
