"""Closing in Discord: the buttons' registration, and the Discord side of the closing effect."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord.ext import commands

from cogs.closing._downloads import AiohttpAttachmentFetcher
from cogs.closing._port import DiscordClosing
from cogs.closing._views import CloseButton, CloseYesButton

if TYPE_CHECKING:
    from cogs.client import GuarantorBot


class ClosingCog(commands.Cog):
    def __init__(self, bot: GuarantorBot) -> None:
        self.bot = bot
        self.fetcher = AiohttpAttachmentFetcher()
        self.port = DiscordClosing(bot, self.fetcher)

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(CloseButton, CloseYesButton)
        self.bot.runtime.closer.attach(self.port)

    async def cog_unload(self) -> None:
        self.bot.runtime.closer.attach(None)
        self.bot.remove_dynamic_items(CloseButton, CloseYesButton)
        await self.fetcher.close()
