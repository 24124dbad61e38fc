"""The `/guarantee` command group."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord.ext import commands

if TYPE_CHECKING:
    from bot.client import GuarantorBot


class GuaranteeCog(commands.GroupCog, group_name="guarantee", group_description="Escrow tickets for marketplace orders"):
    def __init__(self, bot: GuarantorBot) -> None:
        self.bot = bot
        super().__init__()
