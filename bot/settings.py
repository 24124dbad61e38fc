"""Configuration: every key of PRODUCT.md §1, read from the environment and `.env`.

`load_settings()` turns any problem into a `ConfigError` whose text is one line naming
the key and what is wrong; the CLI prints it and exits with code 2.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/guarantor.db"
_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


class ConfigError(Exception):
    """A configuration problem, rendered as one line for the operator."""


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def normalise_database_url(url: str) -> str:
    """Map the accepted schemes onto the async drivers (`postgresql://` means asyncpg)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in _DRIVERS:
        raise ValueError(f"unknown scheme {scheme!r}; use sqlite+aiosqlite:// or postgresql://")
    return f"{_DRIVERS[scheme.lower()]}://{rest}"


def check_webhook_secret(secret: str) -> str:
    """A Standard Webhooks secret is `whsec_` followed by base64 of the key bytes."""
    if not secret.startswith("whsec_"):
        raise ValueError("each secret must start with 'whsec_'")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except binascii.Error:
        raise ValueError("each secret must be 'whsec_' followed by base64") from None
    if len(key) < 16:
        raise ValueError("each secret must hold at least 16 bytes of key")
    return secret


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    discord_token: SecretStr | None = None
    discord_guild_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    database_url: str = DEFAULT_DATABASE_URL
    webhook_host: str = "127.0.0.1"
    webhook_port: int = Field(default=8080, ge=0, le=65535)
    marketplace_webhook_secrets: Annotated[list[SecretStr], NoDecode]
    marketplace_base_url: AnyHttpUrl = AnyHttpUrl("https://opentaskai.com")
    marketplace_callback_url: AnyHttpUrl | None = None
    marketplace_callback_secret: SecretStr | None = None
    officer_role_name: str = Field(default="Guarantor Officer", min_length=1, max_length=100)
    transcript_retention_days: int = Field(default=180, ge=1)
    pending_request_hours: int = Field(default=72, ge=1)
    closed_ticket_action: Literal["delete", "lock"] = "delete"
    unclaimed_reminder_minutes: int = Field(default=30, ge=1)
    approval_reminder_hours: int = Field(default=48, ge=1)
    dispute_escalation_hours: int = Field(default=72, ge=1)
    data_dir: str = "data"
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=9108, ge=0, le=65535)  # None (empty): no /metrics
    log_level: str = "INFO"
    log_format: str = "text"

    @field_validator("discord_token", mode="before")
    @classmethod
    def _empty_token_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("marketplace_callback_url", "marketplace_callback_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("discord_guild_ids", mode="before")
    @classmethod
    def _guild_ids(cls, value: Any) -> Any:
        return _split_commas(value)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return normalise_database_url(value)

    @field_validator("marketplace_webhook_secrets", mode="before")
    @classmethod
    def _secrets(cls, value: Any) -> Any:
        secrets = _split_commas(value)
        if not secrets:
            raise ValueError("at least one whsec_ secret is required")
        return [check_webhook_secret(s.get_secret_value() if isinstance(s, SecretStr) else s) for s in secrets]

    @field_validator("marketplace_callback_secret")
    @classmethod
    def _callback_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_webhook_secret(value.get_secret_value())
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("use DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @field_validator("closed_ticket_action", mode="before")
    @classmethod
    def _closed_ticket_action(cls, value: Any) -> Any:
        action = value.strip().lower() if isinstance(value, str) else value
        if action not in {"delete", "lock"}:
            raise ValueError("use delete (the channel goes once its transcript is saved) or lock (kept read-only)")
        return action

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _empty_port_is_off(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value.lower() not in {"text", "json"}:
            raise ValueError("use text or json")
        return value.lower()

    @property
    def marketplace_host(self) -> str:
        return (self.marketplace_base_url.host or "").lower().removeprefix("www.")

    @property
    def callbacks_enabled(self) -> bool:
        return self.marketplace_callback_url is not None and self.marketplace_callback_secret is not None


def load_settings(**overrides: Any) -> Settings:
    """Read settings, turning the first validation problem into a one-line `ConfigError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0]).upper() if error["loc"] else "configuration"
        if error["type"] == "missing":
            raise ConfigError(f"{key} is required but not set") from None
        message = str(error["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{key} is invalid: {message}") from None
