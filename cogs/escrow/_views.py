"""The escrow's control buttons: persistent dynamic items, one per action the state offers.

Custom ids are `guarantee:<action>:<order_id>`; they survive restarts because the bot
registers the template (`add_dynamic_items`) and every click reloads the escrow from the
database. Which buttons a state shows comes from `rules.RULES`, as do the checks.

A click or a form is one call to the escrow service, which decides who the person is on the
order, whether the action applies, and what note it needs; the answer is the reply.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

import discord

from bot.services.errors import GuaranteeError
from bot.services.escrow.results import Change, NoteNeeded
from bot.services.escrow.rules import Action, Note, State, rules_from
from cogs.people import actor_of
from cogs.tree import respond

if TYPE_CHECKING:
    from cogs.client import GuarantorBot

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
        """Refuse with the reason, ask for the note the action needs (the form remembers the escrow
        version it was opened on), or act at once."""
        bot = cast("GuarantorBot", interaction.client)
        actor = actor_of(interaction.user, bot.settings.officer_role_name)
        try:
            result = await bot.runtime.escrow.click(self.order_id, self.action, actor)
        except GuaranteeError as exc:
            await respond(interaction, str(exc))
            return
        if isinstance(result, NoteNeeded):
            await interaction.response.send_modal(NoteModal(self.order_id, self.action, result.note, result.version))
            return
        await respond(interaction, done(result))


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


def done(change: Change) -> str:
    """The acting person's confirmation."""
    if change.action is Action.CLAIM:
        return f"You claimed order {change.order_id}."
    if change.action is Action.APPROVE:
        return f"Your approval of order {change.order_id} is recorded; an officer can now release the funds."
    return f"Done: order {change.order_id} is now {change.target.label}."


def controls_for(order_id: str, state: State | str) -> discord.ui.View:
    """The persistent view for the order's summary message in `state` (no buttons once terminal)."""
    view = discord.ui.View(timeout=None)
    seen: set[Action] = set()
    for rule in rules_from(State(state)):
        if rule.action not in seen:
            seen.add(rule.action)
            view.add_item(EscrowButton(rule.action, order_id, label=rule.label))
    return view
