"""Are you sure? A question with a **Yes** that names what it does (destructive style) and **No, go back**,
for anything that moves money or ends something for good. Every feature asks the same way:

    text, view = ask("Release **120.50 USD** to @Sam? This cannot be undone.", yes=MyYesButton(...))
    await respond(interaction, text, view=view)

`MyYesButton` is the feature's own `discord.ui.DynamicItem` (so it survives restarts), built around
`yes_button(custom_id, label)`; its custom id carries what the answer is bound to (the escrow version, say),
so a question asked on an older state can be refused. Its callback ends the question with `settle`.
**No, go back** (`BackButton`, `guarantee:back:<subject>`) is shared: it changes nothing and says so.
"""

from __future__ import annotations

import re
from typing import Any

import discord

QUESTION_MARK = "⚠️"
BACK_TEMPLATE = r"guarantee:back:(?P<subject>[A-Za-z0-9_-]{1,64})"


def yes_button(custom_id: str, label: str) -> discord.ui.Button[Any]:
    """The **Yes** of a question: destructive style, its label saying what it does ("Yes, release 120.50 USD")."""
    return discord.ui.Button(label=label[:80], style=discord.ButtonStyle.danger, custom_id=custom_id)


class BackButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=BACK_TEMPLATE):
    """**No, go back**: nothing happens, and the question says so."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        button: discord.ui.Button[Any] = discord.ui.Button(
            label="No, go back", style=discord.ButtonStyle.secondary, custom_id=f"guarantee:back:{subject}"
        )
        super().__init__(button)

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> BackButton:
        return cls(match["subject"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await settle(interaction, "Nothing was done; everything stays as it was.")


def ask(text: str, *, yes: discord.ui.Item[Any], subject: str) -> tuple[str, discord.ui.View]:
    """The question's text and its buttons (`subject`: what it is about, e.g. the order id)."""
    view = discord.ui.View(timeout=None)
    view.add_item(yes)
    view.add_item(BackButton(subject))
    return f"{QUESTION_MARK} {text}", view


async def settle(interaction: discord.Interaction, text: str) -> None:
    """Answer a question's button by replacing the question with `text` (its buttons go)."""
    await interaction.response.edit_message(content=text, view=None)
