"""Settings, read from the environment and an optional TOML file.

This module imports nothing from the package: every component may read settings without loading
another component (`auth.environment` and `auth.settings` re-export the names defined here).

Environment variables win over the TOML file, which wins over the defaults. The TOML file is
`PERSONA_MCP_CONFIG` (default `<data dir>/persona-mcp.toml` if it exists); its top-level keys are the
field names below, with `[persona]` holding the upstream section.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import tomllib
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

from persona_mcp.operator_error import ConfigError

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


class AuthMode(StrEnum):
    """Who issues the bearer tokens HTTP callers present (grant tokens are accepted in every mode)."""

    BUILTIN = "builtin"
    EXTERNAL = "external"
    GRANT_TOKENS = "grant-tokens"


class AuthorizationServerSettings(BaseSettings):
    """The built-in OAuth 2.1 authorization server (`PERSONA_MCP_AS_*`, TOML section `[authorization]`).

    Lifetimes are short on purpose: an access token lives 15 minutes by default and is bounded by its
    grant's expiry; refresh tokens rotate on every use. A person signs in on the consent page with the
    grant token an administrator gave them; failed sign-ins are limited per client address.
    """

    model_config = SettingsConfigDict(env_prefix="PERSONA_MCP_AS_", extra="ignore")

    registration_enabled: bool = Field(
        default=True, description="Accept RFC 7591 dynamic client registration at /register."
    )
    access_token_seconds: int = Field(default=900, ge=30, le=86400, description="Access token lifetime.")
    refresh_token_seconds: int = Field(
        default=30 * 86400, ge=300, le=365 * 86400, description="Refresh token lifetime (each rotation)."
    )
    code_seconds: int = Field(default=120, ge=10, le=600, description="Authorization code lifetime.")
    consent_seconds: int = Field(
        default=600, ge=60, le=3600, description="Time a person has to sign in and answer the consent page."
    )
    login_attempts: int = Field(
        default=5, ge=1, le=1000, description="Failed consent-page sign-ins allowed per address per window."
    )
    login_window_seconds: float = Field(
        default=300.0, gt=0, le=86400, description="Window of the sign-in limit."
    )
    oidc_issuer: str | None = Field(
        default=None, description="Upstream OpenID Connect provider people may sign in with (https)."
    )
    oidc_client_id: str | None = Field(default=None, description="This server's client id there.")
    oidc_client_secret: SecretStr | None = Field(default=None, description="Its client secret, if any.")
    oidc_principal_claim: str = Field(
        default="email", description="ID token claim naming the grant's principal."
    )
    oidc_environment: Environment | None = Field(
        default=None, description="Environment of the grants people signing in upstream may use."
    )
    oidc_display_name: str = Field(
        default="single sign-on", description="The provider's name on the sign-in button."
    )

    @field_validator("oidc_issuer")
    @classmethod
    def _issuer_over_https(cls, value: str | None) -> str | None:
        problem = None if value is None else jwks_url_problem(value)
        if problem:
            raise ValueError(problem)
        return value


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

    console: bool = Field(
        default=True,
        description="Serve the web console at /console (sign-in with a person's grant token).",
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


class ApprovalSettings(BaseSettings):
    """Four-eyes approvals and the destructive-call circuit breaker (`PERSONA_MCP_APPROVALS_*`, TOML
    section `[approvals]`)."""

    model_config = SettingsConfigDict(env_prefix="PERSONA_MCP_APPROVALS_", extra="ignore")

    ttl_seconds: int = Field(
        default=86_400,
        gt=0,
        le=30 * 86_400,
        description="How long a held call's approval stays usable: pending or approved, it expires "
        "after this.",
    )
    breaker_threshold: int = Field(
        default=20,
        gt=0,
        description="A grant's destructive or decision calls per window past which its breaker trips: "
        "further such calls need approval until an admin resets it.",
    )
    breaker_window_seconds: int = Field(
        default=3600, gt=0, le=30 * 86_400, description="The window the breaker counts calls in."
    )


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


class MetricsSettings(BaseSettings):
    """The Prometheus `/metrics` endpoint (`PERSONA_MCP_METRICS_*`, TOML section `[metrics]`).

    Off unless a token or a bind address is set: the counters name tools and grants, which an anonymous
    scraper on the MCP port has no business reading. With `bind`, a separate listener serves `/metrics`
    only (a token, if also set, is still required there); with a token alone, `/metrics` is served on the
    MCP port to requests bearing it.
    """

    model_config = SettingsConfigDict(env_prefix="PERSONA_MCP_METRICS_", extra="forbid")

    token: SecretStr | None = Field(
        default=None, description="Bearer token a scraper must send to read /metrics."
    )
    bind: str | None = Field(
        default=None, description="`host:port` of a separate listener serving /metrics only."
    )

    @field_validator("bind")
    @classmethod
    def _host_and_port(cls, value: str | None) -> str | None:
        if value is None:
            return value
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("bind must be host:port, e.g. 127.0.0.1:9464")
        return value

    @property
    def enabled(self) -> bool:
        return self.token is not None or self.bind is not None

    @property
    def address(self) -> tuple[str, int] | None:
        if self.bind is None:
            return None
        host, _, port = self.bind.rpartition(":")
        return host.strip("[]"), int(port)


class SiemSink(StrEnum):
    """Where audit records are forwarded as OCSF JSON."""

    NONE = "none"
    WEBHOOK = "webhook"  # POST of a JSON array to any HTTP endpoint
    HEC = "hec"  # Splunk HTTP Event Collector (and compatible collectors)
    SYSLOG = "syslog"  # RFC 5424 over TCP (tcp://) or TLS (tls://), octet-counted framing (RFC 6587)
    FILE = "file"  # JSON lines, rotated by size


class SiemSettings(BaseSettings):
    """Continuous forwarding of audit records to a SIEM (`PERSONA_MCP_SIEM_*`, TOML section `[siem]`)."""

    model_config = SettingsConfigDict(env_prefix="PERSONA_MCP_SIEM_", extra="forbid")

    sink: SiemSink = Field(default=SiemSink.NONE, description="none, webhook, hec, syslog or file.")
    url: str | None = Field(
        default=None,
        description="http(s) URL (webhook, hec), tcp:// or tls://host:port (syslog), or a file path.",
    )
    token: SecretStr | None = Field(default=None, description="HEC token, or the webhook's bearer token.")
    ca_file: Path | None = Field(default=None, description="CA bundle that signs the sink's TLS certificate.")
    name: str = Field(
        default="default", min_length=1, max_length=64, description="Name of the durable cursor."
    )
    batch_size: int = Field(default=200, ge=1, le=10000, description="Records per delivery.")
    poll_seconds: float = Field(default=1.0, gt=0, le=300, description="Wait between looks for new records.")
    retry_max_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="Longest wait between deliveries to a failing sink."
    )
    file_max_bytes: int = Field(
        default=50_000_000, ge=1024, description="The file sink rotates past this size."
    )
    file_backups: int = Field(default=5, ge=1, le=1000, description="Rotated files kept by the file sink.")

    @property
    def enabled(self) -> bool:
        return self.sink is not SiemSink.NONE


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
    auth: AuthMode | None = Field(
        default=None,
        description="HTTP token mode: builtin (this server's own authorization server), external (JWTs of "
        "PERSONA_MCP_OAUTH_ISSUER) or grant-tokens (static grant tokens only). Default: external when an "
        "issuer is configured, else builtin. Grant tokens work in every mode.",
    )
    authorization: AuthorizationServerSettings = Field(default_factory=AuthorizationServerSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    siem: SiemSettings = Field(default_factory=SiemSettings)
    approvals: ApprovalSettings = Field(default_factory=ApprovalSettings)
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
    def auth_mode(self) -> AuthMode:
        """The configured mode, or the default: external with an issuer configured, else builtin."""
        if self.auth is not None:
            return self.auth
        return AuthMode.EXTERNAL if self.oauth.enabled else AuthMode.BUILTIN

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, or the SQLite file under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'persona-mcp.sqlite3'}"


def _toml_path() -> Path | None:
    explicit = os.environ.get("PERSONA_MCP_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(
                f"PERSONA_MCP_CONFIG names {path}, which does not exist or is not a file",
                "create that TOML file, or unset PERSONA_MCP_CONFIG to use the environment and defaults only",
            )
        return path
    data_dir = os.environ.get("PERSONA_MCP_DATA_DIR")
    candidate = (Path(data_dir) if data_dir else default_data_dir()) / "persona-mcp.toml"
    return candidate if candidate.exists() else None


#: The TOML sections and environment prefixes of the nested settings. For each, the environment wins over
#: the file (pydantic-settings alone would read `PERSONA_MCP_PERSONA__*`, not `PERSONA_API_*`).
_SECTIONS: dict[str, tuple[type[BaseSettings], str]] = {
    "persona": (PersonaSettings, "PERSONA_API_"),
    "oauth": (OAuthSettings, "PERSONA_MCP_OAUTH_"),
    "authorization": (AuthorizationServerSettings, "PERSONA_MCP_AS_"),
    "http": (HttpSettings, "PERSONA_MCP_HTTP_"),
    "store": (StoreSettings, "PERSONA_MCP_STORE_"),
    "metrics": (MetricsSettings, "PERSONA_MCP_METRICS_"),
    "siem": (SiemSettings, "PERSONA_MCP_SIEM_"),
    "approvals": (ApprovalSettings, "PERSONA_MCP_APPROVALS_"),
    "events": (EventSettings, "PERSONA_MCP_EVENTS_"),
}
#: `PERSONA_MCP_*` variables read outside these models (the audit keys, the config file, the test harness).
_OTHER_VARIABLES = frozenset(
    {
        "PERSONA_MCP_CONFIG",
        "PERSONA_MCP_AUDIT_INSTANCE_ID",
        "PERSONA_MCP_AUDIT_SIGNING_KEY_FILE",
        "PERSONA_MCP_AUDIT_PII_KEY",
        "PERSONA_MCP_AUDIT_CHECKPOINT_DIR",
        "PERSONA_MCP_EVENT_LOOP",
        "PERSONA_MCP_PEER_SRC",
    }
)
_TEST_PREFIX = "PERSONA_MCP_TEST_"


def known_variables() -> frozenset[str]:
    """Every environment variable this server reads."""
    names = set(_OTHER_VARIABLES)
    for field in Settings.model_fields:
        names.add(f"PERSONA_MCP_{field.upper()}")  # a section as JSON, too
    for model, prefix in _SECTIONS.values():
        names.update(f"{prefix}{field.upper()}" for field in model.model_fields)
    return frozenset(names)


def _suggest(name: str, known: set[str] | frozenset[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f"did you mean {close[0]}?" if close else ""


def check_environment(environ: dict[str, str] | None = None) -> None:
    """Refuse an unknown `PERSONA_MCP_*` or `PERSONA_API_*` variable: a typo must not be silently ignored."""
    environ = dict(os.environ) if environ is None else environ
    known = known_variables()
    for name in sorted(environ):
        if not name.startswith(("PERSONA_MCP_", "PERSONA_API_")) or name.startswith(_TEST_PREFIX):
            continue
        if name not in known:
            suggestion = _suggest(name, known)
            raise ConfigError(
                f"unknown environment variable {name}",
                f"{suggestion + ' ' if suggestion else ''}remove it or fix its name; "
                "docs/configuration.md lists every setting",
            )


def read_config_file(path: Path) -> dict[str, Any]:
    """The TOML file, checked: a syntax error names the file and line, an unknown key is refused."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid TOML: {exc}", "fix the syntax at that line (quote strings, key = value)"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {exc.strerror}", "check the file's path and permissions"
        ) from None
    top = {name for name in Settings.model_fields if name not in _SECTIONS}
    for key, value in data.items():
        if key in _SECTIONS and isinstance(value, dict):
            fields = set(_SECTIONS[key][0].model_fields)
            for inner in value:
                if inner not in fields:
                    suggestion = _suggest(inner, fields)
                    raise ConfigError(
                        f"unknown setting `{inner}` in section [{key}] of {path}",
                        f"{suggestion + ' ' if suggestion else ''}valid keys: {', '.join(sorted(fields))}",
                    )
        elif key not in top:
            suggestion = _suggest(key, top | set(_SECTIONS))
            raise ConfigError(
                f"unknown setting `{key}` in {path}",
                f"{suggestion + ' ' if suggestion else ''}docs/configuration.md lists the keys "
                f"(sections: {', '.join(f'[{name}]' for name in _SECTIONS)})",
            )
    return data


_EXPECTED = {
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "enum": "one of the listed values",
    "literal_error": "one of the listed values",
    "json_invalid": "valid JSON",
}


def _setting_name(loc: tuple[Any, ...], title: str, config_file: Path | None) -> str:
    """How the operator wrote the setting: its environment variable if set, else its key in the file."""
    parts = [str(part) for part in loc]
    section = next((name for name, (model, _) in _SECTIONS.items() if model.__name__ == title), None)
    if section is None and parts and parts[0] in _SECTIONS:
        section, parts = parts[0], parts[1:]
    field = parts[0] if parts else ""
    prefix = _SECTIONS[section][1] if section else "PERSONA_MCP_"
    variable = f"{prefix}{field.upper()}"
    if variable in os.environ or config_file is None:
        return variable
    key = f"{section}.{field}" if section else field
    return f"`{key}` in {config_file}"


def config_error(exc: ValidationError, config_file: Path | None = None) -> ConfigError:
    """The first invalid setting as one line, never its value (it may be a secret)."""
    error = exc.errors()[0]
    name = _setting_name(tuple(error["loc"]), exc.title, config_file)
    expected = _EXPECTED.get(error["type"])
    more = len(exc.errors()) - 1
    message = f"{name}: {error['msg']}" + (f" (and {more} more invalid setting(s))" if more else "")
    hint = f"set {name} to {expected}" if expected else f"set {name} to a value that fits: {error['msg']}"
    return ConfigError(message, f"{hint}; docs/configuration.md describes every setting")


def describe_invalid_settings(exc: ValidationError) -> str:
    """One line per invalid setting, for an operator: what is wrong, never the value (it may be a secret)."""
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or exc.title
        lines.append(f"{where}: {error['msg']}")
    return f"invalid configuration ({exc.title}):\n  " + "\n  ".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and TOML file, with explicit overrides on top.

    Raises `ConfigError` (one line, with the fix) for a missing or malformed file, an unknown key or
    variable, and a value of the wrong type.
    """
    check_environment()
    config_file = _toml_path()
    if config_file is not None:
        read_config_file(config_file)
    try:
        return _load(overrides)
    except ValidationError as exc:
        raise config_error(exc, config_file) from None


def _load(overrides: dict[str, Any]) -> Settings:
    settings = Settings(**overrides)
    # Each nested section reads its own variables; the environment wins over the file.
    for name, (model, prefix) in _SECTIONS.items():
        if name in overrides or name == "oauth":
            continue
        file_section = getattr(settings, name).model_dump(exclude_unset=True)
        env = _env_keys(prefix)
        setattr(settings, name, model(**{k: v for k, v in file_section.items() if k not in env}))
    return settings


def _env_keys(prefix: str = "PERSONA_API_") -> set[str]:
    return {name.removeprefix(prefix).lower() for name in os.environ if name.startswith(prefix)}
