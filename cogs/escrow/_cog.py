"""Escrow in Discord: the buttons' registration, and the announcer of every change."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord.ext import commands

from cogs.confirm import BackButton
from cogs.escrow._announce import Announcer
from cogs.escrow._views import ConfirmButton, EscrowButton

if TYPE_CHECKING:
    from cogs.client import GuarantorBot


class EscrowCog(commands.Cog):
    def __init__(self, bot: GuarantorBot) -> None:
        self.bot = bot
        self.announcer = Announcer(bot)

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(EscrowButton, ConfirmButton, BackButton)
        self.bot.runtime.effects.attach(self.announcer)

    async def cog_unload(self) -> None:
        self.bot.runtime.effects.attach(None)
        self.bot.remove_dynamic_items(EscrowButton, ConfirmButton, BackButton)
