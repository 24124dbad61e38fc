"""The note forms: a payment reference, a reason, a resolution. Each is titled by what it does and bound to
the escrow version it was opened on; submitting it is one call to the escrow service."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import discord

from bot.services.errors import GuaranteeError
from bot.services.escrow.rules import Action, Note
from cogs.escrow._texts import done, form_words
from cogs.people import actor_of
from cogs.tree import respond

if TYPE_CHECKING:
    from cogs.client import GuarantorBot


class NoteModal(discord.ui.Modal):
    """The note an action needs, bound to the escrow `version` it was opened on.

    discord.py routes the submission back to this object (by user and custom id); the version is
    in the custom id too, so a second form opened later on a newer state never shares its identity.
    """

    def __init__(self, order_id: str, action: Action, note: Note, version: int) -> None:
        title, label = form_words(action, note)
        custom_id = f"guarantee:note:{action.value}:{order_id}:{version}"
        super().__init__(title=title[:45], custom_id=custom_id, timeout=600)
        self.order_id, self.action, self.version = order_id, action, version
        self.note: discord.ui.TextInput[NoteModal] = discord.ui.TextInput(
            label=label[:45],
            custom_id="note",
            style=discord.TextStyle.paragraph if note is not Note.PAYMENT_REFERENCE else discord.TextStyle.short,
            min_length=1,
            max_length=1000,
        )
        self.add_item(self.note)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        """Act only if the escrow is still at the version the form was opened on."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot = cast("GuarantorBot", interaction.client)
        actor = actor_of(interaction.user, bot.settings.officer_role_name)
        try:
            change = await bot.runtime.escrow.submit(
                self.order_id, self.action, actor, note=self.note.value, version=self.version
            )
        except GuaranteeError as exc:
            await respond(interaction, str(exc))
            return
        await respond(interaction, done(change))
