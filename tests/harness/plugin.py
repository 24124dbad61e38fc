"""pytest plugin for Discord tests: the project's bot inside a fake Discord (see tests/README.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from discord.ext import commands

from bot import create_bot
from bot.settings import Settings
from tests.harness._driver import InteractionDriver
from tests.harness._faults import Faults
from tests.harness._tickets import TicketView
from tests.harness._world import DiscordEnv, ExtraSetup

MakeEnv = Callable[..., Awaitable[DiscordEnv]]
Deliver = Callable[..., Awaitable[None]]


@pytest.fixture
async def make_discord_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[MakeEnv]:
    """`await make_discord_env(extra_setup=..., factory=...)`: a started `DiscordEnv`, closed after the test."""
    envs: list[DiscordEnv] = []

    async def make(*, extra_setup: ExtraSetup | None = None, factory: Callable[[], commands.Bot] | None = None):
        env = DiscordEnv(
            factory or (lambda: create_bot(settings, serve_webhooks=False)),
            monkeypatch,
            officer_role_name=settings.officer_role_name,
            extra_setup=extra_setup,
        )
        envs.append(env)
        return await env.start()

    yield make
    for env in envs:
        await env.close()


@pytest.fixture
async def discord_env(make_discord_env: MakeEnv) -> DiscordEnv:
    """The project's bot on this test's database, in a fake Discord with two guilds."""
    return await make_discord_env()


@pytest.fixture
def deliver(discord_env: DiscordEnv) -> Deliver:
    """`await deliver(document=None, **changes)`: a signed marketplace event posted to the bot's webhook app,
    then worked (default: `order.agreed` of ord_1 with the sample terms and `changes`)."""
    return discord_env.deliver


@pytest.fixture
async def ticket(discord_env: DiscordEnv) -> TicketView:
    """Order ord_1 agreed, its ticket opened by `discord_env.freelancer` and joined by `discord_env.buyer`."""
    await discord_env.agree_order()
    return await discord_env.open_ticket_and_join()


@pytest.fixture
def bot(discord_env: DiscordEnv) -> commands.Bot:
    return discord_env.bot


@pytest.fixture
def driver(discord_env: DiscordEnv) -> InteractionDriver:
    return discord_env.driver


@pytest.fixture
def faults(discord_env: DiscordEnv) -> Faults:
    return discord_env.faults
