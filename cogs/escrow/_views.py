"""The escrow's control buttons: persistent dynamic items, one per action the state offers.

Custom ids are `guarantee:<action>:<order_id>`; they survive restarts because the bot
registers the template (`add_dynamic_items`) and every click reloads the escrow from the
database. Which buttons a state shows comes from `escrow_rules.RULES`, as do the checks.
"""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.services.escrow.rules import Action, Note, State, rules_from

ACTIONS = "|".join(a.value for a in Action if a is not Action.FLAG)
TEMPLATE = rf"guarantee:(?P<action>{ACTIONS}):(?P<order_id>[A-Za-z0-9_-]{{1,64}})"

_STYLES = {
    Action.RELEASE: discord.ButtonStyle.success,
    Action.FUND: discord.ButtonStyle.success,
    Action.APPROVE: discord.ButtonStyle.primary,
    Action.DELIVER: discord.ButtonStyle.primary,
    Action.REFUND: discord.ButtonStyle.danger,
    Action.CANCEL: discord.ButtonStyle.danger,
}
_NOTE_LABELS = {
    Note.PAYMENT_REFERENCE: ("Confirm funding", "Payment reference"),
    Note.REASON: ("Give a reason", "Reason (shown in the ticket and audit log)"),
    Note.RESOLUTION: ("Resolve the dispute", "Written resolution"),
    Note.OVERRIDE_REASON: ("Release without approval", "Why release without the buyer's approval?"),
}


def custom_id(action: Action, order_id: str) -> str:
    return f"guarantee:{action.value}:{order_id}"


class EscrowButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=TEMPLATE):
    def __init__(self, action: Action, order_id: str, *, label: str | None = None) -> None:
        self.action = action
        self.order_id = order_id
        button: discord.ui.Button[Any] = discord.ui.Button(
            label=label or action.value.title(),
            style=_STYLES.get(action, discord.ButtonStyle.secondary),
            custom_id=custom_id(action, order_id),
        )
        super().__init__(button)

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> EscrowButton:
        label = getattr(item, "label", None)
        return cls(Action(match["action"]), match["order_id"], label=label)

    async def callback(self, interaction: discord.Interaction) -> None:
        from cogs.escrow._cog import controller

        await controller(interaction).clicked(interaction, self.order_id, self.action)


class NoteModal(discord.ui.Modal):
    """The note an action needs, bound to the escrow `version` it was opened on.

    discord.py routes the submission back to this object (by user and custom id); the version is
    in the custom id too, so a second form opened later on a newer state never shares its identity.
    """

    def __init__(self, order_id: str, action: Action, note: Note, version: int) -> None:
        title, label = _NOTE_LABELS[note]
        custom_id = f"guarantee:note:{action.value}:{order_id}:{version}"
        super().__init__(title=title, custom_id=custom_id, timeout=600)
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
        from cogs.escrow._cog import controller

        await controller(interaction).submitted(interaction, self.order_id, self.action, self.note.value, self.version)


def controls_for(order_id: str, state: str) -> discord.ui.View:
    """The persistent view for the order's summary message in `state` (no buttons once terminal)."""
    view = discord.ui.View(timeout=None)
    seen: set[Action] = set()
    for rule in rules_from(State(state)):
        if rule.action not in seen:
            seen.add(rule.action)
            view.add_item(EscrowButton(rule.action, order_id, label=rule.label))
    return view
