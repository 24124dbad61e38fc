"""Fixtures for the harness self-tests: the project's bot plus a small test-only cog."""

from __future__ import annotations

import pytest

from tests.harness._testcog import Seen, install
from tests.harness._world import DiscordEnv
from tests.harness.plugin import MakeEnv


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
async def env(make_discord_env: MakeEnv, seen: Seen) -> DiscordEnv:
    async def extra_setup(bot):
        await install(bot, seen)

    return await make_discord_env(extra_setup=extra_setup)
