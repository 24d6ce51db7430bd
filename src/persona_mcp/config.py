"""Settings, read from the environment and an optional TOML file.

This module imports nothing from the package: every component may read settings without loading
another component (`auth.environment` and `auth.settings` re-export the names defined here).

Environment variables win over the TOML file, which wins over the defaults. The TOML file is
`PERSONA_MCP_CONFIG` (default `<data dir>/persona-mcp.toml` if it exists); its top-level keys are the
field names below, with `[persona]` holding the upstream section.
"""

from __future__ import annotations

import ipaddress
import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_PERSONA_VERSION = "2025-12-08"
DEFAULT_BASE_URL = "https://api.withpersona.com/api/v1"
#: How long before expiry an OAuth access token is renewed by default.
DEFAULT_REFRESH_WINDOW_SECONDS = 60.0


#: How long a file a tool saved (an inquiry PDF: unmasked personal data) is kept by default.
DEFAULT_FILE_RETENTION_SECONDS = 3600.0


def default_data_dir() -> Path:
    """Where the SQLite file, keys and exported files live unless configured otherwise."""
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "persona-mcp"


def create_private_dir(path: Path) -> Path:
    """Create `path` readable by this user only (0700): it holds the database, keys and PDFs.

    An existing directory keeps its mode (it may be a mounted volume the operator set up on purpose);
    docs/security.md tells operators to make it 0700.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def jwks_url_problem(url: str) -> str | None:
    """Why `url` may not serve the keys that JWTs are checked with, or None if it may.

    Whoever can change the key set in transit can mint any token, so the keys come over https; plain
    http is accepted only from this host (a local issuer in development or a sidecar).
    """
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return None
    shown = f"{parts.scheme}://{parts.hostname or ''}" if parts.scheme else repr(url[:64])
    return (
        "the JWKS URL must use https (plain http only for a loopback host such as 127.0.0.1 or localhost), "
        f"got {shown}; set PERSONA_MCP_OAUTH_JWKS_URL to the issuer's https JWKS URL"
    )


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PersonaSettings(BaseSettings):
    """The upstream Persona API (`PERSONA_API_*`)."""

    model_config = SettingsConfigDict(env_prefix="PERSONA_API_", extra="ignore")

    key: SecretStr | None = Field(default=None, description="Persona API key; the zero-configuration path.")
    base_url: str = Field(default=DEFAULT_BASE_URL, description="Base URL of the Persona REST API.")
    version: str = Field(default=DEFAULT_PERSONA_VERSION, description="Pinned Persona-Version header.")
    timeout_seconds: float = Field(default=30.0, gt=0, description="Per-request timeout.")
    max_retries: int = Field(default=4, ge=0, le=10, description="Retries after the first attempt.")
    retry_budget_seconds: float = Field(default=60.0, gt=0, description="Upper bound on time spent retrying.")


class Environment(StrEnum):
    """Persona environments. A call's environment always comes from the caller's grant."""

    SANDBOX = "sandbox"
    PRODUCTION = "production"


#: Asymmetric algorithms only: a shared-secret (HS*) or `none` token is never accepted.
SUPPORTED_ALGORITHMS = ("RS256", "ES256", "EdDSA", "Ed25519")


class OAuthSettings(BaseSettings):
    """External authorization server for HTTP callers (`PERSONA_MCP_OAUTH_*`).

    This is an OAuth 2.1 resource server's view: the server accepts JWT access tokens from one external
    authorization server. It needs the issuer (the exact `iss`), where that issuer publishes its keys
    (JWKS), and this server's own resource URL, which is the audience every accepted token must name
    (RFC 8707 / RFC 9068). Each JWT caller is mapped to a grant whose principal equals the token's
    `principal_claim` (default `sub`); the token's scopes only narrow it.
    """

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

    @field_validator("jwks_url")
    @classmethod
    def _keys_over_https(cls, value: str | None) -> str | None:
        problem = None if value is None else jwks_url_problem(value)
        if problem:
            raise ValueError(problem)
        return value

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


#: Seconds a client has to send a request's complete headers (slowloris protection).
DEFAULT_HEADER_TIMEOUT_SECONDS = 10.0


class HttpSettings(BaseSettings):
    """Streamable HTTP exposure and session limits (`PERSONA_MCP_HTTP_*`, TOML section `[http]`).

    Together these keep one caller, or a browser page on a rebinding domain, from taking the server out of
    service: which Host and Origin headers are served at all, how many MCP sessions may be open (in total
    and per grant), how long an idle session lives, and how long a client may take to send its request
    headers. Lists accept JSON or comma-separated values in the environment.
    """

    model_config = SettingsConfigDict(env_prefix="PERSONA_MCP_HTTP_", extra="ignore")

    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host headers served, as `host`, `host:port` or `host:*`; empty means the public URL's "
        "host. Loopback (127.0.0.1, localhost, [::1], any port) is always allowed.",
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origin headers served (`scheme://host[:port]`, `:*` for any port); empty means the "
        "public URL's origin. Loopback origins are always allowed; requests without Origin are not affected.",
    )
    max_sessions: int = Field(
        default=1000, ge=1, description="Open MCP sessions in total; /healthz reports degraded at 90 %."
    )
    max_sessions_per_grant: int = Field(
        default=10, ge=1, description="Open MCP sessions one grant may hold at a time."
    )
    session_idle_timeout_seconds: float = Field(
        default=300.0, gt=0, le=86400, description="A session with no request in flight this long is closed."
    )
    header_timeout_seconds: float = Field(
        default=DEFAULT_HEADER_TIMEOUT_SECONDS,
        gt=0,
        le=300,
        description="Time a client has to send a request's complete headers.",
    )

    @field_validator("allowed_hosts", "allowed_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value


class StoreSettings(BaseSettings):
    """Bounds on every wait on the database while serving (`PERSONA_MCP_STORE_*`, TOML section `[store]`).

    A replica frozen while it holds the audit chain's lock, a forgotten `BEGIN` in a psql session or another
    process holding SQLite's write lock must not stall every call: past these bounds a call is refused with
    the reason, and a frozen lock holder loses its session (and the lock). Admin commands use longer waits.
    """

    model_config = SettingsConfigDict(env_prefix="PERSONA_MCP_STORE_", extra="ignore")

    lock_timeout_seconds: float = Field(
        default=2.0,
        gt=0,
        le=600,
        description="PostgreSQL: longest wait for a lock (the audit chain lock, a row lock) before the "
        "statement fails and the call is refused.",
    )
    statement_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="PostgreSQL: longest run of one statement on the request path.",
    )
    idle_in_transaction_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="PostgreSQL: a session idle inside a transaction this long (a frozen or paused replica "
        "holding the chain lock) is ended by the server, which frees its locks.",
    )
    sqlite_busy_timeout_seconds: float = Field(
        default=2.0,
        gt=0,
        le=600,
        description="SQLite: longest wait for the database write lock another connection holds.",
    )


class EventSettings(BaseSettings):
    """The webhook receiver and event store (`PERSONA_MCP_EVENTS_*`, TOML section `[events]`).

    Persona keeps webhook events 30 days and its Events API about three months; the local store keeps
    every verified event for `retention_days`, which may be longer. An event's payload is the object as
    it was, personal data included: `payload_storage = "none"` keeps only its id, name, object and
    times.
    """

    model_config = SettingsConfigDict(env_prefix="PERSONA_MCP_EVENTS_", extra="ignore")

    payload_storage: Literal["encrypted", "none"] = Field(
        default="encrypted",
        description="Keep each event's payload AES-GCM encrypted at rest (`encrypted`) or not at all "
        "(`none`).",
    )
    retention_days: float = Field(
        default=400.0, gt=0, description="Delete stored events received longer ago than this."
    )
    signature_tolerance_seconds: float = Field(
        default=300.0,
        gt=0,
        le=86400,
        description="Refuse deliveries whose signed timestamp is further than this from the server's clock.",
    )
    max_body_bytes: int = Field(
        default=1_048_576, gt=0, description="Refuse (413) deliveries whose body is larger than this."
    )
    notify_poll_seconds: float = Field(
        default=0.5,
        gt=0,
        le=10,
        description="How often each replica looks for events another replica received (the bound on how "
        "late its subscribers hear of them).",
    )


class Settings(BaseSettings):
    """Server settings (`PERSONA_MCP_*`), with the upstream section nested under `persona`."""

    model_config = SettingsConfigDict(env_prefix="PERSONA_MCP_", extra="ignore")

    data_dir: Path = Field(
        default_factory=default_data_dir, description="Directory for the database and keys."
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default is a SQLite file in the data directory."
    )
    token: SecretStr | None = Field(default=None, description="Grant token of the stdio caller.")
    secret_key: SecretStr | None = Field(default=None, description="Key encrypting stored credentials.")
    environment: str = Field(default="sandbox", description="Persona environment of the PERSONA_API_KEY.")
    refresh_window_seconds: float = Field(
        default=DEFAULT_REFRESH_WINDOW_SECONDS,
        ge=1,
        le=3600,
        description="Renew stored OAuth tokens this long before they expire (at most half their lifetime).",
    )
    file_retention_seconds: float = Field(
        default=DEFAULT_FILE_RETENTION_SECONDS,
        gt=0,
        description="Delete files tools saved (inquiry PDFs: unmasked personal data) after this long.",
    )
    audit_checkpoint_location: str | None = Field(
        default=None,
        description="Where each signed audit checkpoint is also kept outside the database: a file (JSON "
        "lines; a directory holds audit-checkpoints.jsonl) or the http(s) URL of a witness that is sent "
        "each one as a JSON POST (besides the file in the data directory). Default: "
        "<data dir>/audit-checkpoints.jsonl.",
    )
    persona: PersonaSettings = Field(default_factory=PersonaSettings)
    oauth: OAuthSettings = Field(default_factory=OAuthSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    events: EventSettings = Field(default_factory=EventSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = _toml_path()
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, or the SQLite file under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'persona-mcp.sqlite3'}"


def _toml_path() -> Path | None:
    explicit = os.environ.get("PERSONA_MCP_CONFIG")
    if explicit:
        return Path(explicit)
    data_dir = os.environ.get("PERSONA_MCP_DATA_DIR")
    candidate = (Path(data_dir) if data_dir else default_data_dir()) / "persona-mcp.toml"
    return candidate if candidate.exists() else None


def describe_invalid_settings(exc: ValidationError) -> str:
    """One line per invalid setting, for an operator: what is wrong, never the value (it may be a secret)."""
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or exc.title
        lines.append(f"{where}: {error['msg']}")
    return f"invalid configuration ({exc.title}):\n  " + "\n  ".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and TOML file, with explicit overrides on top."""
    settings = Settings(**overrides)
    # The nested section reads its own PERSONA_API_* variables; pydantic-settings would only look for
    # PERSONA_MCP_PERSONA__* otherwise.
    if "persona" not in overrides:
        file_section = settings.persona.model_dump(exclude_unset=True)
        settings.persona = PersonaSettings(**{k: v for k, v in file_section.items() if k not in _env_keys()})
    if "http" not in overrides:  # the same rule for the [http] section: the environment wins over the file
        file_section = settings.http.model_dump(exclude_unset=True)
        env = _env_keys("PERSONA_MCP_HTTP_")
        settings.http = HttpSettings(**{k: v for k, v in file_section.items() if k not in env})
    if "store" not in overrides:  # and for [store]
        file_section = settings.store.model_dump(exclude_unset=True)
        env = _env_keys("PERSONA_MCP_STORE_")
        settings.store = StoreSettings(**{k: v for k, v in file_section.items() if k not in env})
    return settings


def _env_keys(prefix: str = "PERSONA_API_") -> set[str]:
    return {name.removeprefix(prefix).lower() for name in os.environ if name.startswith(prefix)}
