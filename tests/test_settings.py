"""Settings (PRODUCT.md §1): defaults, parsing, and one-line `ConfigError`s that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import ConfigError, Settings, load_settings
from tests.conftest import TEST_SECRET

KEYS = [
    "DISCORD_TOKEN", "DISCORD_GUILD_IDS", "DATABASE_URL", "WEBHOOK_HOST", "WEBHOOK_PORT",
    "MARKETPLACE_WEBHOOK_SECRETS", "MARKETPLACE_BASE_URL", "MARKETPLACE_CALLBACK_URL",
    "MARKETPLACE_CALLBACK_SECRET", "OFFICER_ROLE_NAME", "TRANSCRIPT_RETENTION_DAYS", "LOG_LEVEL", "LOG_FORMAT",
    "CLOSED_TICKET_ACTION", "UNCLAIMED_REMINDER_MINUTES", "APPROVAL_REMINDER_HOURS", "DISPUTE_ESCALATION_HOURS",
    "OFFICIAL_GUILD_IDS", "SMTP_URL", "SMTP_FROM", "AUDIT_KEY",
]  # fmt: skip


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env from the working tree


def load(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return load_settings()


def config_error(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(monkeypatch, **env)
    message = str(caught.value)
    assert "\n" not in message and message.strip() == message and message
    return message


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch, MARKETPLACE_WEBHOOK_SECRETS=TEST_SECRET)
    assert settings.discord_token is None
    assert settings.discord_guild_ids == []
    assert settings.database_url == "sqlite+aiosqlite:///data/guarantor.db"
    assert (settings.webhook_host, settings.webhook_port) == ("127.0.0.1", 8080)
    assert [s.get_secret_value() for s in settings.marketplace_webhook_secrets] == [TEST_SECRET]
    assert settings.marketplace_host == "opentaskai.com"
    assert settings.callbacks_enabled is False
    assert settings.officer_role_name == "Guarantor Officer"
    assert settings.transcript_retention_days == 180
    assert (settings.log_level, settings.log_format) == ("INFO", "text")
    assert settings.closed_ticket_action == "delete"
    assert (settings.unclaimed_reminder_minutes, settings.approval_reminder_hours) == (30, 48)
    assert settings.dispute_escalation_hours == 72


def test_missing_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(monkeypatch)
    assert message.startswith("MARKETPLACE_WEBHOOK_SECRETS")
    assert "required" in message


@pytest.mark.parametrize(
    "value, words",
    [
        ("", "at least one"),
        (" , ", "at least one"),
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_"),
        ("whsec_not*base64!", "base64"),
        ("whsec_", "16 bytes"),
        ("whsec_c2hvcnQ=", "16 bytes"),
        (f"{TEST_SECRET},oops", "whsec_"),
    ],
)
def test_bad_secrets(monkeypatch: pytest.MonkeyPatch, value: str, words: str) -> None:
    message = config_error(monkeypatch, MARKETPLACE_WEBHOOK_SECRETS=value)
    assert message.startswith("MARKETPLACE_WEBHOOK_SECRETS")
    assert words in message
    assert "not*base64" not in message and "MfKQ9r8G" not in message  # secrets never echoed


def test_comma_list_with_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    second = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"
    settings = load(
        monkeypatch, MARKETPLACE_WEBHOOK_SECRETS=f" {TEST_SECRET} ,  {second} ,", DISCORD_GUILD_IDS=" 1, 22 ,333 "
    )
    assert [s.get_secret_value() for s in settings.marketplace_webhook_secrets] == [TEST_SECRET, second]
    assert settings.discord_guild_ids == [1, 22, 333]


def test_bad_guild_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    assert config_error(monkeypatch, MARKETPLACE_WEBHOOK_SECRETS=TEST_SECRET, DISCORD_GUILD_IDS="1,abc").startswith(
        "DISCORD_GUILD_IDS"
    )


@pytest.mark.parametrize("port", ["abc", "70000", "-1", "8080.5", ""])
def test_bad_port(monkeypatch: pytest.MonkeyPatch, port: str) -> None:
    assert config_error(monkeypatch, MARKETPLACE_WEBHOOK_SECRETS=TEST_SECRET, WEBHOOK_PORT=port).startswith(
        "WEBHOOK_PORT is invalid"
    )


@pytest.mark.parametrize("url", ["mysql://u@h/db", "oracle://x", "just-a-path.db", "http://example.com"])
def test_unknown_database_scheme(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    message = config_error(monkeypatch, MARKETPLACE_WEBHOOK_SECRETS=TEST_SECRET, DATABASE_URL=url)
    assert message.startswith("DATABASE_URL is invalid")


@pytest.mark.parametrize(
    "url, expected",
    [
        ("postgresql://u:p@db:5432/g", "postgresql+asyncpg://u:p@db:5432/g"),
        ("postgres://u@db/g", "postgresql+asyncpg://u@db/g"),
        ("postgresql+asyncpg://u@db/g", "postgresql+asyncpg://u@db/g"),
        ("sqlite:///data/x.db", "sqlite+aiosqlite:///data/x.db"),
        ("sqlite+aiosqlite:////abs/x.db", "sqlite+aiosqlite:////abs/x.db"),
    ],
)
def test_database_schemes_map_to_async_drivers(monkeypatch: pytest.MonkeyPatch, url: str, expected: str) -> None:
    assert load(monkeypatch, MARKETPLACE_WEBHOOK_SECRETS=TEST_SECRET, DATABASE_URL=url).database_url == expected


@pytest.mark.parametrize("token", ["", "   "])
def test_empty_discord_token_means_unset(monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    assert load(monkeypatch, MARKETPLACE_WEBHOOK_SECRETS=TEST_SECRET, DISCORD_TOKEN=token).discord_token is None


def test_token_is_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(
        monkeypatch, MARKETPLACE_WEBHOOK_SECRETS=TEST_SECRET, DISCORD_TOKEN="abc.def.ghi", OFFICIAL_GUILD_IDS="1"
    )
    assert settings.discord_token is not None and settings.discord_token.get_secret_value() == "abc.def.ghi"
    assert "abc.def.ghi" not in repr(settings)


def test_callbacks_need_url_and_valid_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(
        monkeypatch,
        MARKETPLACE_WEBHOOK_SECRETS=TEST_SECRET,
        MARKETPLACE_CALLBACK_URL="https://opentaskai.com/hooks/guarantor",
        MARKETPLACE_CALLBACK_SECRET=TEST_SECRET,
    )
    assert settings.callbacks_enabled
    message = config_error(monkeypatch, MARKETPLACE_CALLBACK_SECRET="plain")
    assert message.startswith("MARKETPLACE_CALLBACK_SECRET")


@pytest.mark.parametrize(
    "key, value",
    [
        ("LOG_LEVEL", "LOUD"),
        ("LOG_FORMAT", "xml"),
        ("TRANSCRIPT_RETENTION_DAYS", "0"),
        ("MARKETPLACE_BASE_URL", "not a url"),
        ("OFFICER_ROLE_NAME", ""),
    ],
)
def test_other_bad_values_name_their_key(monkeypatch: pytest.MonkeyPatch, key: str, value: str) -> None:
    assert config_error(monkeypatch, MARKETPLACE_WEBHOOK_SECRETS=TEST_SECRET, **{key: value}).startswith(key)


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("CLOSED_TICKET_ACTION", "archive", "use delete"),
        ("CLOSED_TICKET_ACTION", "", "use delete"),
        ("UNCLAIMED_REMINDER_MINUTES", "0", "greater than or equal to 1"),
        ("UNCLAIMED_REMINDER_MINUTES", "soon", "valid integer"),
        ("APPROVAL_REMINDER_HOURS", "-5", "greater than or equal to 1"),
        ("APPROVAL_REMINDER_HOURS", "1.5", "valid integer"),
        ("DISPUTE_ESCALATION_HOURS", "0", "greater than or equal to 1"),
        ("DISPUTE_ESCALATION_HOURS", "", "valid integer"),
    ],
)
def test_closing_and_timer_keys_reject_bad_values_in_one_line(
    monkeypatch: pytest.MonkeyPatch, key: str, value: str, words: str
) -> None:
    message = config_error(monkeypatch, MARKETPLACE_WEBHOOK_SECRETS=TEST_SECRET, **{key: value})
    assert message.startswith(f"{key} is invalid: ")
    assert words in message


def test_closing_and_timer_keys_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(
        monkeypatch,
        MARKETPLACE_WEBHOOK_SECRETS=TEST_SECRET,
        CLOSED_TICKET_ACTION=" Lock ",
        UNCLAIMED_REMINDER_MINUTES="5",
        APPROVAL_REMINDER_HOURS="24",
        DISPUTE_ESCALATION_HOURS="96",
    )
    assert settings.closed_ticket_action == "lock"
    assert (settings.unclaimed_reminder_minutes, settings.approval_reminder_hours) == (5, 24)
    assert settings.dispute_escalation_hours == 96


def test_case_insensitive_levels_and_www_base(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(
        monkeypatch,
        MARKETPLACE_WEBHOOK_SECRETS=TEST_SECRET,
        LOG_LEVEL="debug",
        LOG_FORMAT="JSON",
        MARKETPLACE_BASE_URL="https://WWW.OpenTaskAI.com/",
    )
    assert (settings.log_level, settings.log_format, settings.marketplace_host) == ("DEBUG", "json", "opentaskai.com")


def test_dotenv_file_is_read_and_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"MARKETPLACE_WEBHOOK_SECRETS={TEST_SECRET}\nWEBHOOK_PORT=9001\nLOG_LEVEL=ERROR\n")
    settings = load(monkeypatch, LOG_LEVEL="WARNING")
    assert (settings.webhook_port, settings.log_level) == (9001, "WARNING")


def test_overrides_without_env_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MARKETPLACE_WEBHOOK_SECRETS=broken\n")
    settings = load_settings(_env_file=None, marketplace_webhook_secrets=TEST_SECRET)
    assert settings.webhook_port == 8080


ENV_EXAMPLE = Path(__file__).parents[1] / ".env.example"


def test_env_example_documents_every_key_and_loads_once_a_secret_is_filled_in(tmp_path: Path) -> None:
    if not ENV_EXAMPLE.exists():
        pytest.skip(".env.example is not in the repository yet")
    text = ENV_EXAMPLE.read_text()
    documented = {
        line.split("=", 1)[0].strip() for line in text.splitlines() if "=" in line and not line.startswith("#")
    }
    assert {name.upper() for name in Settings.model_fields} <= documented
    lines = [
        f"MARKETPLACE_WEBHOOK_SECRETS={TEST_SECRET}" if line.startswith("MARKETPLACE_WEBHOOK_SECRETS=") else line
        for line in text.splitlines()
    ]
    (tmp_path / ".env").write_text("\n".join(lines) + "\n")
    settings = load_settings()  # the working directory is tmp_path (see clean_env)
    assert settings.discord_token is None and settings.discord_guild_ids == []
    assert settings.callbacks_enabled is False
    assert settings.official_guild_ids == [] and settings.smtp_server is None


def test_official_servers_are_required_with_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(monkeypatch, MARKETPLACE_WEBHOOK_SECRETS=TEST_SECRET, DISCORD_TOKEN="abc.def")
    assert message.startswith("OFFICIAL_GUILD_IDS is required when DISCORD_TOKEN is set")
    settings = load(monkeypatch, OFFICIAL_GUILD_IDS=" 11, 22 ")
    assert settings.official_guild_ids == [11, 22]
    assert settings.is_official(11) and not settings.is_official(33) and settings.is_official(None)


def test_without_a_token_no_official_servers_means_every_server(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch, MARKETPLACE_WEBHOOK_SECRETS=TEST_SECRET)
    assert settings.official_guild_ids == [] and settings.is_official(33)


def test_official_server_ids_must_be_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(monkeypatch, MARKETPLACE_WEBHOOK_SECRETS=TEST_SECRET, OFFICIAL_GUILD_IDS="11,abc")
    assert message.startswith("OFFICIAL_GUILD_IDS is invalid")


def test_smtp_url_is_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(
        monkeypatch, MARKETPLACE_WEBHOOK_SECRETS=TEST_SECRET, SMTP_URL="smtp://mailer:p%40ss@mail.example.com:2525",
        SMTP_FROM="Guarantor <guarantor@example.com>",
    )  # fmt: skip
    server = settings.smtp_server
    assert server is not None
    assert (server.host, server.port, server.username, server.password, server.tls) == (
        "mail.example.com", 2525, "mailer", "p@ss", False,
    )  # fmt: skip
    assert "p@ss" not in repr(server) and "p%40ss" not in repr(settings)
    tls = load(monkeypatch, SMTP_URL="smtps://mail.example.com").smtp_server
    assert tls is not None and (tls.port, tls.tls, tls.username) == (465, True, None)
    assert load(monkeypatch, SMTP_URL="smtp://mail.example.com").smtp_server.port == 587  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "url",
    ["http://mail.example.com", "smtp://", "smtp://mail.example.com:99999", "smtp://host/path", "mail.example.com"],
)
def test_a_malformed_smtp_url_is_one_line_without_the_password(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    message = config_error(monkeypatch, MARKETPLACE_WEBHOOK_SECRETS=TEST_SECRET, SMTP_URL=url, SMTP_FROM="a@b.c")
    assert message.startswith("SMTP_URL is invalid: ")


def test_smtp_needs_a_sender(monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(monkeypatch, MARKETPLACE_WEBHOOK_SECRETS=TEST_SECRET, SMTP_URL="smtp://u:secret@h:25")
    assert message.startswith("SMTP_FROM is required when SMTP_URL is set") and "secret" not in message
    message = config_error(monkeypatch, SMTP_FROM="not an address")
    assert message.startswith("SMTP_FROM is invalid")


AUDIT_KEY = "Yx3vQ9_kLm2Pn8Rt5Wz7Ab4Cd6Ef1Gh0JkLmNoPqRs"  # 43 characters, as secrets.token_urlsafe(32) makes


def test_audit_key_is_optional_and_its_bytes_are_the_hmac_key(monkeypatch: pytest.MonkeyPatch) -> None:
    unset = load(monkeypatch, MARKETPLACE_WEBHOOK_SECRETS=TEST_SECRET, AUDIT_KEY="  ")
    assert unset.audit_key is None and unset.audit_key_bytes is None
    settings = load(monkeypatch, AUDIT_KEY=AUDIT_KEY)
    assert settings.audit_key_bytes == AUDIT_KEY.encode() and AUDIT_KEY not in repr(settings)


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("short-key", "at least 32 characters long (it has 9)"),
        ("x" * 31, "at least 32 characters long (it has 31)"),
        ("has a space in it and is long enough", "printable ASCII without spaces"),
        ("é" * 40, "printable ASCII without spaces"),
    ],
)
def test_a_short_or_malformed_audit_key_is_one_line(monkeypatch: pytest.MonkeyPatch, key: str, problem: str) -> None:
    message = config_error(monkeypatch, MARKETPLACE_WEBHOOK_SECRETS=TEST_SECRET, AUDIT_KEY=key)
    assert message.startswith("AUDIT_KEY is invalid: ") and problem in message
    assert key not in message  # a secret is never echoed
