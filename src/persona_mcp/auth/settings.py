"""Settings for external bearer tokens (`PERSONA_MCP_OAUTH_*`): an OAuth 2.1 resource server's view.

The server accepts JWT access tokens from one external authorization server. It needs the issuer (the
exact `iss`), where that issuer publishes its keys (JWKS), and this server's own resource URL, which is
the audience every accepted token must name (RFC 8707 / RFC 9068). Each JWT caller is mapped to a grant
whose principal equals the token's `principal_claim` (default `sub`); the token's scopes only narrow it.
"""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from persona_mcp.auth.environment import Environment

#: Asymmetric algorithms only: a shared-secret (HS*) or `none` token is never accepted.
SUPPORTED_ALGORITHMS = ("RS256", "ES256", "EdDSA", "Ed25519")


class OAuthSettings(BaseSettings):
    """External authorization server for HTTP callers (`PERSONA_MCP_OAUTH_*`)."""

    model_config = SettingsConfigDict(env_prefix="PERSONA_MCP_OAUTH_", extra="ignore")

    issuer: str | None = Field(default=None, description="Expected `iss` of access tokens (exact match).")
    jwks_url: str | None = Field(default=None, description="The issuer's JWKS URL (https).")
    resource_url: str | None = Field(
        default=None, description="This server's resource URL: the audience every token must carry."
    )
    algorithms: list[str] = Field(
        default_factory=lambda: ["RS256", "ES256", "EdDSA"],
        description=f"Accepted signature algorithms, a subset of {', '.join(SUPPORTED_ALGORITHMS)}.",
    )
    principal_claim: str = Field(default="sub", description="Claim whose value names the grant's principal.")
    environment: Environment | None = Field(
        default=None,
        description="Persona environment JWT callers are bound to (picks among a principal's grants).",
    )
    leeway_seconds: int = Field(default=30, ge=0, le=300, description="Clock skew allowed for exp/nbf/iat.")
    jwks_cache_seconds: float = Field(default=600.0, gt=0, description="How long fetched keys are trusted.")
    jwks_refetch_min_seconds: float = Field(
        default=30.0, ge=0, description="Least time between refetches triggered by an unknown key id."
    )
    http_timeout_seconds: float = Field(default=5.0, gt=0, description="Timeout of the JWKS request.")

    @field_validator("algorithms")
    @classmethod
    def _only_supported(cls, value: list[str]) -> list[str]:
        unknown = [alg for alg in value if alg not in SUPPORTED_ALGORITHMS]
        if unknown or not value:
            raise ValueError(f"algorithms must be a non-empty subset of {', '.join(SUPPORTED_ALGORITHMS)}")
        return value

    @property
    def enabled(self) -> bool:
        """Whether JWT callers are accepted at all (issuer and key source both configured)."""
        return bool(self.issuer and self.jwks_url)
