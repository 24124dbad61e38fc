"""The Enter code button and form of email proof: a persistent dynamic item `guarantee:code:<token>` (the token
names the person's code, never an order), whose form checks the code and then finishes the open or join."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

import discord

from bot.services.errors import GuaranteeError
from bot.services.tickets.proof import CodeSent, Purpose
from bot.services.tickets.service import OpenResult
from cogs.tickets import _replies
from cogs.tree import respond

if TYPE_CHECKING:
    from cogs.client import GuarantorBot

TEMPLATE = r"guarantee:code:(?P<token>[A-Za-z0-9_-]{16,43})"


class CodeButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=TEMPLATE):
    def __init__(self, token: str) -> None:
        self.token = token
        super().__init__(
            discord.ui.Button(
                label=_replies.ENTER_CODE, style=discord.ButtonStyle.primary, custom_id=f"guarantee:code:{token}"
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> CodeButton:
        return cls(match["token"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(CodeModal(self.token))


class CodeModal(discord.ui.Modal):
    def __init__(self, token: str) -> None:
        super().__init__(title=_replies.CODE_FORM_TITLE, custom_id=f"guarantee:codeform:{token}", timeout=600)
        self.token = token
        self.code: discord.ui.TextInput[CodeModal] = discord.ui.TextInput(
            label=_replies.CODE_FORM_LABEL, custom_id="code", min_length=6, max_length=12, placeholder="123456"
        )
        self.add_item(self.code)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot = cast("GuarantorBot", interaction.client)
        try:
            result = await bot.runtime.tickets.redeem(
                token=self.token, user_id=interaction.user.id, code=self.code.value
            )
        except GuaranteeError as exc:
            await respond(interaction, str(exc))
            return
        if isinstance(result, OpenResult):
            text = _replies.open_reply(result, bot.settings.pending_request_hours)
        else:
            text = _replies.join_reply(result)
        await respond(interaction, text)


async def send_code_reply(interaction: discord.Interaction, sent: CodeSent) -> None:
    """The same answer whether or not anything matched: look in your mail, press Enter code."""
    view = discord.ui.View(timeout=None)
    view.add_item(CodeButton(sent.token))
    text = _replies.CODE_SENT_OPEN if sent.purpose is Purpose.OPEN else _replies.CODE_SENT_JOIN
    await interaction.followup.send(text, view=view, ephemeral=True)
