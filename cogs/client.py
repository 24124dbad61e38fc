"""The Discord bot: wired from settings by `create_bot`, connected only by `start`."""

from __future__ import annotations

import logging

import discord
from discord.ext import commands

from bot.runtime import Runtime, freeze_heap
from bot.settings import Settings
from cogs import acks
from cogs.official import install_gate, leave_if_unofficial
from cogs.tree import GuarantorTree

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.tickets", "cogs.escrow", "cogs.closing")


class GuarantorBot(commands.Bot):
    def __init__(self, settings: Settings, *, serve_webhooks: bool = True) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            # Nothing the bot sends pings anyone unless a message opts in explicitly.
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            tree_cls=GuarantorTree,
        )
        self.settings = settings
        self.serve_webhooks = serve_webhooks
        self.runtime = Runtime(settings, discord_status=self.discord_status)

    async def setup_hook(self) -> None:
        install_gate(self, self.settings.is_official)  # before anything can be routed
        await self.runtime.start(serve_webhooks=self.serve_webhooks)
        acks.watch(self.runtime.metrics.interaction_ack.observe)
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        for guild_id in self.settings.discord_guild_ids:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d slash commands to guild %s", len(synced), guild_id)

    async def on_ready(self) -> None:
        for guild in list(self.guilds):  # added while the bot was away
            await leave_if_unofficial(guild, self.settings.is_official)
        frozen = freeze_heap()  # the guild cache is filled now
        log.info(
            "ready as %s in %d guild(s); %d objects left out of garbage collection", self.user, len(self.guilds), frozen
        )

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await leave_if_unofficial(guild, self.settings.is_official)

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            acks.watch(None)
            await self.runtime.close()

    def discord_status(self) -> str:
        if self.is_closed():
            return "closed"
        return "connected" if self.is_ready() else "connecting"


def create_bot(settings: Settings, *, serve_webhooks: bool = True) -> GuarantorBot:
    """The fully wired bot, not connected: `setup_hook` opens the database and serves webhooks."""
    return GuarantorBot(settings, serve_webhooks=serve_webhooks)
