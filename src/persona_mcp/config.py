"""Settings, read from the environment and an optional TOML file.

Environment variables win over the TOML file, which wins over the defaults. The TOML file is
`PERSONA_MCP_CONFIG` (default `<data dir>/persona-mcp.toml` if it exists); its top-level keys are the
field names below, with `[persona]` holding the upstream section.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from persona_mcp.auth.settings import OAuthSettings

DEFAULT_PERSONA_VERSION = "2025-12-08"
DEFAULT_BASE_URL = "https://api.withpersona.com/api/v1"


def default_data_dir() -> Path:
    """Where the SQLite file, keys and exported files live unless configured otherwise."""
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "persona-mcp"


class PersonaSettings(BaseSettings):
    """The upstream Persona API (`PERSONA_API_*`)."""

    model_config = SettingsConfigDict(env_prefix="PERSONA_API_", extra="ignore")

    key: SecretStr | None = Field(default=None, description="Persona API key; the zero-configuration path.")
    base_url: str = Field(default=DEFAULT_BASE_URL, description="Base URL of the Persona REST API.")
    version: str = Field(default=DEFAULT_PERSONA_VERSION, description="Pinned Persona-Version header.")
    timeout_seconds: float = Field(default=30.0, gt=0, description="Per-request timeout.")
    max_retries: int = Field(default=4, ge=0, le=10, description="Retries after the first attempt.")
    retry_budget_seconds: float = Field(default=60.0, gt=0, description="Upper bound on time spent retrying.")


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
    persona: PersonaSettings = Field(default_factory=PersonaSettings)
    oauth: OAuthSettings = Field(default_factory=OAuthSettings)

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


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and TOML file, with explicit overrides on top."""
    settings = Settings(**overrides)
    # The nested section reads its own PERSONA_API_* variables; pydantic-settings would only look for
    # PERSONA_MCP_PERSONA__* otherwise.
    if "persona" not in overrides:
        file_section = settings.persona.model_dump(exclude_unset=True)
        settings.persona = PersonaSettings(**{k: v for k, v in file_section.items() if k not in _env_keys()})
    return settings


def _env_keys() -> set[str]:
    return {
        name.removeprefix("PERSONA_API_").lower() for name in os.environ if name.startswith("PERSONA_API_")
    }
