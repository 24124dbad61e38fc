"""The **Close ticket** button (on the summary once the escrow is terminal) and the question before closing.

`guarantee:close:<order_id>` asks (`cogs.confirm.ask`); its **Yes** (`guarantee:close-yes:<order_id>`) closes
the ticket, and **No, go back** does nothing. `/guarantee close [reason]` asks the same question; its reason is
quoted in the question and read back from it by the yes (the question is the bot's own message, and an
ephemeral one: nothing is stored before the yes).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

import discord

from bot.services.closing.service import CloseQuestion
from bot.services.errors import GuaranteeError
from cogs.confirm import ask, settle, yes_button
from cogs.people import actor_of
from cogs.tree import respond

if TYPE_CHECKING:
    from cogs.client import GuarantorBot

ORDER = r"(?P<order_id>[A-Za-z0-9_-]{1,64})"
REASON_LINE = "Reason given:"
LABEL = "Close ticket"


def _bot(interaction: discord.Interaction) -> GuarantorBot:
    return cast("GuarantorBot", interaction.client)


def question_text(asked: CloseQuestion, reason: str | None = None) -> str:
    """The question: what closing does, to which order, and that the channel cannot be had back."""
    fate = (
        "then its channel is **deleted**"
        if asked.channel_action == "delete"
        else "then its channel is locked (read-only) and moved to the closed tickets"
    )
    where = asked.log_channel_id
    posted = f"posted to <#{where}>" if where else "kept by the bot (no log channel is set)"
    text = (
        f"Close the ticket of order {asked.order_id} ({asked.amount}, {asked.state.label})? Its whole history is "
        f"saved as a transcript, {posted}, and both parties are told; {fate}. This cannot be undone."
    )
    if not where:
        text += " To have transcripts posted, an admin picks a log channel with `/guarantee setup`."
    if reason:
        text += f"\n{REASON_LINE}\n" + "\n".join(f"> {line}" for line in reason.splitlines())
    return text


def reason_in(question: str) -> str | None:
    """The reason a question quotes (`question_text`), as it was typed."""
    _, found, rest = question.partition(f"\n{REASON_LINE}\n")
    if not found:
        return None
    return "\n".join(line.removeprefix("> ").removeprefix(">") for line in rest.splitlines()) or None


def confirmation(asked: CloseQuestion, reason: str | None = None) -> tuple[str, discord.ui.View]:
    return ask(question_text(asked, reason), yes=CloseYesButton(asked.order_id), subject=asked.order_id)


def closing_text(order_id: str, channel_action: str) -> str:
    fate = "deleted" if channel_action == "delete" else "locked"
    return (
        f"Closing the ticket of order {order_id}: its transcript is being saved, then the channel is {fate}. "
        f"If the transcript cannot be saved, the channel stays and you are told why."
    )


class CloseButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"guarantee:close:{ORDER}"):
    """**Close ticket** on the summary: the question first (officers only; the service says why not)."""

    def __init__(self, order_id: str) -> None:
        self.order_id = order_id
        button: discord.ui.Button[Any] = discord.ui.Button(
            label=LABEL, style=discord.ButtonStyle.secondary, custom_id=f"guarantee:close:{order_id}", emoji="🔒"
        )
        super().__init__(button)

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> CloseButton:
        return cls(match["order_id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = _bot(interaction)
        actor = actor_of(interaction.user, bot.settings.officer_role_name)
        try:
            asked = await bot.runtime.closing.question(actor, order_id=self.order_id)
        except GuaranteeError as exc:
            await respond(interaction, str(exc))
            return
        text, view = confirmation(asked)
        await respond(interaction, text, view=view)


class CloseYesButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"guarantee:close-yes:{ORDER}"):
    """The **Yes** of the question: close now (the service decides again: the ticket may have moved since)."""

    def __init__(self, order_id: str) -> None:
        self.order_id = order_id
        super().__init__(yes_button(f"guarantee:close-yes:{order_id}", "Yes, close the ticket"))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> CloseYesButton:
        return cls(match["order_id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = _bot(interaction)
        actor = actor_of(interaction.user, bot.settings.officer_role_name)
        reason = reason_in(interaction.message.content) if interaction.message is not None else None
        try:
            closing = await bot.runtime.closing.close(actor, order_id=self.order_id, reason=reason)
        except GuaranteeError as exc:
            await settle(interaction, str(exc))
            return
        await settle(interaction, closing_text(closing.order_id, closing.channel_action))
