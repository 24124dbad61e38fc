"""Configuration: every key of PRODUCT.md §1, read from the environment and `.env`.

`load_settings()` turns any problem into a `ConfigError` whose text is one line naming
the key and what is wrong; the CLI prints it and exits with code 2.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator, model_validator
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


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where the email one-time codes are sent from (`SMTP_URL`): `smtps` is TLS from the first byte; `smtp`
    upgrades with STARTTLS when the server offers it."""

    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool

    def __repr__(self) -> str:  # never the password
        return f"SmtpServer({self.host}:{self.port}, tls={self.tls}, user={'set' if self.username else 'none'})"


def parse_smtp_url(url: str) -> SmtpServer:
    """`smtp://user:pass@host:587` or `smtps://user:pass@host` (default ports 587 and 465)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in {"smtp", "smtps"}:
        raise ValueError("use smtp://user:password@host:587 or smtps://user:password@host:465")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    if not parts.hostname:
        raise ValueError("the mail server's host name is missing (smtp://user:password@host:587)")
    if parts.path not in ("", "/") or parts.query:
        raise ValueError("nothing may follow host:port (smtp://user:password@host:587)")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return SmtpServer(
        parts.hostname, port or (465 if scheme == "smtps" else 587), username, password, scheme == "smtps"
    )


AUDIT_KEY_MIN_LENGTH = 32


def check_audit_key(key: str) -> str:
    """`AUDIT_KEY`: at least 32 printable ASCII characters, no spaces (its bytes are the HMAC key), e.g. the
    output of `python -c "import secrets; print(secrets.token_urlsafe(32))"`."""
    if any(not ("!" <= char <= "~") for char in key):
        raise ValueError("use printable ASCII without spaces, e.g. the output of secrets.token_urlsafe(32)")
    if len(key) < AUDIT_KEY_MIN_LENGTH:
        raise ValueError(
            f"it must be at least {AUDIT_KEY_MIN_LENGTH} characters long (it has {len(key)}); "
            'make one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'
        )
    return key


def check_sender(value: str) -> str:
    _name, address = parseaddr(value)
    if "@" not in address or address.startswith("@") or address.endswith("@"):
        raise ValueError("use an email address, e.g. Guarantor <guarantor@example.com>")
    return value.strip()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    discord_token: SecretStr | None = None
    discord_guild_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    official_guild_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    smtp_url: SecretStr | None = None
    smtp_from: str | None = None
    audit_key: SecretStr | None = None
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

    @field_validator(
        "marketplace_callback_url", "marketplace_callback_secret", "smtp_url", "smtp_from", "audit_key", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("discord_guild_ids", "official_guild_ids", mode="before")
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

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_smtp_url(value.get_secret_value())
        return value

    @field_validator("audit_key")
    @classmethod
    def _audit_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_audit_key(value.get_secret_value())
        return value

    @field_validator("smtp_from")
    @classmethod
    def _smtp_from(cls, value: str | None) -> str | None:
        return check_sender(value) if value is not None else None

    @model_validator(mode="after")
    def _required_together(self) -> Settings:
        # Raised without a field: `load_settings` shows the sentence as it is, naming the key.
        if self.discord_token is not None and not self.official_guild_ids:
            raise ValueError(
                "OFFICIAL_GUILD_IDS is required when DISCORD_TOKEN is set: the comma list of the marketplace's "
                "official server ids (the bot leaves every other server)"
            )
        if self.smtp_url is not None and self.smtp_from is None:
            raise ValueError("SMTP_FROM is required when SMTP_URL is set: the sender address of the one-time codes")
        return self

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
    def smtp_server(self) -> SmtpServer | None:
        """The mail server of the email one-time codes; None: emails are compared, not proven."""
        return parse_smtp_url(self.smtp_url.get_secret_value()) if self.smtp_url is not None else None

    @property
    def audit_key_bytes(self) -> bytes | None:
        """The HMAC key of the audit chain; None: entries are chained with plain SHA-256 (and a warning at start)."""
        return self.audit_key.get_secret_value().encode("ascii") if self.audit_key is not None else None

    def is_official(self, guild_id: int | None) -> bool:
        """May guarantees run in this server? Outside a server (DMs), the commands say so themselves;
        with no `OFFICIAL_GUILD_IDS` (no token, as in tests) every server may."""
        return guild_id is None or not self.official_guild_ids or guild_id in self.official_guild_ids

    @property
    def callbacks_enabled(self) -> bool:
        return self.marketplace_callback_url is not None and self.marketplace_callback_secret is not None


def load_settings(**overrides: Any) -> Settings:
    """Read settings, turning the first validation problem into a one-line `ConfigError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        message = str(error["msg"]).removeprefix("Value error, ")
        if not error["loc"]:  # a rule across keys: its sentence names them
            raise ConfigError(message) from None
        key = str(error["loc"][0]).upper()
        if error["type"] == "missing":
            raise ConfigError(f"{key} is required but not set") from None
        raise ConfigError(f"{key} is invalid: {message}") from None
