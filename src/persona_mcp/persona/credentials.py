"""How the Persona client gets the value of its Authorization header.

The client never holds a secret itself: it asks a provider for a bearer token before each attempt and
tells the provider when Persona answered 401, so an OAuth provider can refresh once and an API key
provider can do nothing. The OAuth implementations live in `persona_mcp.auth.credentials`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import SecretStr


@runtime_checkable
class CredentialProvider(Protocol):
    """Supplies the bearer token for upstream calls."""

    async def bearer_token(self) -> str:
        """The token to send now (refreshed ahead of expiry if the provider can)."""
        ...

    async def on_unauthorized(self, rejected_token: str) -> bool:
        """Persona answered 401 to `rejected_token`; return True if a retry with a new token makes sense."""
        ...


class ApiKeyCredential:
    """A static Persona API key: nothing to refresh, so a 401 is final."""

    def __init__(self, api_key: SecretStr | str) -> None:
        self._key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)

    def __repr__(self) -> str:
        return "ApiKeyCredential(api_key=SecretStr('**********'))"

    async def bearer_token(self) -> str:
        return self._key.get_secret_value()

    async def on_unauthorized(self, rejected_token: str) -> bool:
        return False
