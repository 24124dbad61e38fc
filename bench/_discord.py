"""Shared pieces of the Discord benchmarks: the project's bot in the test harness's fake
Discord, outside pytest, with extra guilds, freelancers and a per-route rate limiter."""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import discord  # noqa: E402
import pytest  # noqa: E402
from discord.ext import commands  # noqa: E402

from bot import create_bot  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tests.harness._driver import InteractionDriver  # noqa: E402
from tests.harness._faults import Faults, Route  # noqa: E402
from tests.harness._recorder import InteractionResult  # noqa: E402
from tests.harness._testcog import Seen, install  # noqa: E402
from tests.harness._world import DiscordEnv  # noqa: E402

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TICKETS_PER_GUILD = 400  # Discord allows 500 channels per guild, categories included


def settings_for(database_url: str, data_dir: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        marketplace_webhook_secrets=SECRET,  # type: ignore[arg-type]
        webhook_port=0,
        data_dir=str(data_dir),
    )


@dataclass
class Guild:
    guild: discord.Guild
    channel: discord.TextChannel


async def start_env(settings: Settings, monkeypatch: pytest.MonkeyPatch, extra_guilds: int) -> DiscordEnv:
    """The harness world (as the `discord_env` fixture builds it) plus the test cog and more guilds."""

    async def extra_setup(bot: commands.Bot) -> None:
        await install(bot, Seen())

    env = DiscordEnv(
        lambda: create_bot(settings, serve_webhooks=False),
        monkeypatch,
        officer_role_name=settings.officer_role_name,
        extra_setup=extra_setup,
    )
    await env.start()
    for n in range(extra_guilds):
        env.add_guild(f"Bench guild {n}")
    env.bot.runtime.processor.start()  # the tests work events in their own task; a benchmark has the bot's worker
    return env


def guilds(env: DiscordEnv) -> list[Guild]:
    found = [Guild(env.guild, env.channel)]
    for guild in env.bot.guilds:
        if guild.name.startswith("Bench guild"):
            found.append(Guild(guild, next(c for c in guild.text_channels if c.name == "general")))
    return found


def guilds_needed(tickets: int) -> int:
    return max(1, math.ceil(tickets / TICKETS_PER_GUILD))


def make_members(env: DiscordEnv, guild: discord.Guild, prefix: str, count: int) -> list[discord.Member]:
    return [env.add_member(f"{prefix}{n}", f"{n % 9999 + 1:04}", guild) for n in range(count)]


class RateLimiter:
    """Discord-like per-route buckets on the fake API, as discord.py meets them: it reads the
    bucket's remaining count from the response headers and, at zero, sleeps until the reset
    before sending (`waited`); a call that still lands over the limit gets a real 429."""

    def __init__(self, faults: Faults, limits: dict[Route, tuple[int, float]]) -> None:
        self.faults, self.limits = faults, limits
        self.windows: dict[Route, tuple[float, int]] = {}
        self.waited = 0
        original = faults.gate

        async def gate(route: Route) -> None:
            await self._take(route)
            await original(route)

        faults.gate = gate  # type: ignore[method-assign]

    async def _take(self, route: Route) -> None:
        if route not in self.limits:
            return
        limit, window = self.limits[route]
        while True:
            now = time.monotonic()
            started, used = self.windows.get(route, (now, 0))
            if now - started >= window:
                started, used = now, 0
            if used < limit:
                self.windows[route] = (started, used + 1)
                return
            self.waited += 1
            await asyncio.sleep(window - (now - started))


@dataclass
class Burst:
    results: list[InteractionResult]
    seconds: float

    @property
    def rate(self) -> float:
        return len(self.results) / self.seconds

    def ack_percentile(self, p: float) -> float:
        acks = sorted(r.ack_seconds if r.ack_seconds is not None else math.inf for r in self.results)
        return acks[min(len(acks) - 1, math.ceil(p / 100 * len(acks)) - 1)] * 1000


async def burst(
    driver: InteractionDriver, calls: Sequence[Callable[[], Awaitable[InteractionResult]]], window: int
) -> Burst:
    """Run the interactions with at most `window` in flight; each waits until discord.py is done."""
    gate = asyncio.Semaphore(window)
    results: list[InteractionResult] = []

    async def one(call: Callable[[], Awaitable[InteractionResult]]) -> None:
        async with gate:
            result = await call()
            # Like `result.wait()` without its 5 s test guard: a deferred answer may take longer
            # while calls wait for their rate-limit bucket (Discord allows 15 minutes).
            while pending := [task for task in result.tasks if not task.done()]:
                await asyncio.gather(*pending, return_exceptions=True)
            results.append(result)

    started = time.perf_counter()
    await asyncio.gather(*(one(call) for call in calls))
    await driver.settle()
    return Burst(results, time.perf_counter() - started)


def line(name: str, measured: Burst, unit: str) -> str:
    return (
        f"{name:>22}: {measured.rate:8.1f} {unit}/s   ack p50 {measured.ack_percentile(50):6.1f} ms   "
        f"p99 {measured.ack_percentile(99):6.1f} ms   ({len(measured.results)} in {measured.seconds:.2f} s)"
    )


def vm_hwm_mb() -> float:
    """Peak resident set size of this process (VmHWM), in MB."""
    for text in Path("/proc/self/status").read_text().splitlines():
        if text.startswith("VmHWM:"):
            return int(text.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
