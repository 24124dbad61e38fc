"""The escrow's control buttons and what they open: persistent dynamic items, one per action the state offers.

Custom ids are `guarantee:<action>:<order_id>`; they survive restarts because the bot registers the
templates (`add_dynamic_items`) and every click reloads the escrow from the database. Which buttons a state
shows comes from `rules.RULES`, as do the checks.

Money never moves on one click: an action that moves it or ends the deal (`Rule.confirm`) answers with a
question naming the amount and who gets it (`cogs.confirm.ask`, worded in `_texts.question`), whose **Yes**
(`ConfirmButton`, `guarantee:yes:<action>:<order_id>:<version>`) carries the escrow version it was asked on,
so a question opened on an older state is refused; **No, go back** does nothing. The note forms are in
`_forms.py`.

A click, a yes or a form is one call to the escrow service, which decides who the person is on the order,
whether the action applies, and what it needs next; the answer is the reply.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

import discord

from bot.services.errors import GuaranteeError
from bot.services.escrow.results import ConfirmNeeded, NoteNeeded
from bot.services.escrow.rules import Action, State, rules_from
from cogs.closing._views import CloseButton
from cogs.confirm import ask, settle, yes_button
from cogs.escrow._forms import NoteModal
from cogs.escrow._texts import done, question, yes_label
from cogs.people import actor_of
from cogs.tree import respond

if TYPE_CHECKING:
    from cogs.client import GuarantorBot

ACTIONS = "|".join(a.value for a in Action if a not in (Action.FLAG, Action.TERMS))  # no buttons
ORDER = r"(?P<order_id>[A-Za-z0-9_-]{1,64})"
TEMPLATE = rf"guarantee:(?P<action>{ACTIONS}):{ORDER}"
YES_TEMPLATE = rf"guarantee:yes:(?P<action>{ACTIONS}):{ORDER}:(?P<version>[0-9]{{1,12}})"

_STYLES = {
    Action.RELEASE: discord.ButtonStyle.success,
    Action.FUND: discord.ButtonStyle.success,
    Action.APPROVE: discord.ButtonStyle.primary,
    Action.DELIVER: discord.ButtonStyle.primary,
    Action.REFUND: discord.ButtonStyle.danger,
    Action.CANCEL: discord.ButtonStyle.danger,
}


def custom_id(action: Action, order_id: str) -> str:
    return f"guarantee:{action.value}:{order_id}"


def _actor(interaction: discord.Interaction) -> tuple[GuarantorBot, Any]:
    bot = cast("GuarantorBot", interaction.client)
    return bot, actor_of(interaction.user, bot.settings.officer_role_name)


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
        """Refuse with the reason, ask first (money, the deal's fate), ask for the note the action needs (the
        form remembers the escrow version it was opened on), or act at once."""
        bot, actor = _actor(interaction)
        try:
            result = await bot.runtime.escrow.click(self.order_id, self.action, actor)
        except GuaranteeError as exc:
            await respond(interaction, str(exc))
            return
        if isinstance(result, ConfirmNeeded):
            text, view = confirmation(result)
            await respond(interaction, text, view=view)
        elif isinstance(result, NoteNeeded):
            await interaction.response.send_modal(NoteModal(self.order_id, self.action, result.note, result.version))
        else:
            await respond(interaction, done(result))


class ConfirmButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=YES_TEMPLATE):
    """The **Yes** of a question (`cogs.confirm`), bound to the escrow version it was asked on."""

    def __init__(self, action: Action, order_id: str, version: int, *, label: str | None = None) -> None:
        self.action, self.order_id, self.version = action, order_id, version
        super().__init__(yes_button(f"guarantee:yes:{action.value}:{order_id}:{version}", label or "Yes"))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ConfirmButton:
        label = getattr(item, "label", None)
        return cls(Action(match["action"]), match["order_id"], int(match["version"]), label=label)

    async def callback(self, interaction: discord.Interaction) -> None:
        """Act (or open the form the action needs) if the escrow is still as it was when asked."""
        bot, actor = _actor(interaction)
        try:
            result = await bot.runtime.escrow.confirm(self.order_id, self.action, actor, version=self.version)
        except GuaranteeError as exc:
            await settle(interaction, str(exc))
            return
        if isinstance(result, NoteNeeded):
            await interaction.response.send_modal(NoteModal(self.order_id, self.action, result.note, result.version))
            return
        await settle(interaction, done(result))


def confirmation(asked: ConfirmNeeded) -> tuple[str, discord.ui.View]:
    """The question before an escrow action that moves money or ends the deal, with its buttons."""
    yes = ConfirmButton(asked.action, asked.order_id, asked.version, label=yes_label(asked))
    return ask(question(asked), yes=yes, subject=asked.order_id)


def controls_for(order_id: str, state: State | str, claimed_by: int | None = None) -> discord.ui.View:
    """The persistent view for the order's summary message in `state`: **Claim** while nobody holds the ticket,
    **Take over** once someone does; once the escrow is terminal, only **Close ticket**."""
    view = discord.ui.View(timeout=None)
    seen: set[Action] = set()
    hidden = Action.CLAIM if claimed_by is not None else Action.TAKE_OVER
    for rule in rules_from(State(state)):
        if rule.action not in seen and rule.action is not hidden:
            seen.add(rule.action)
            view.add_item(EscrowButton(rule.action, order_id, label=rule.label))
    if State(state).terminal:
        view.add_item(CloseButton(order_id))
    return view
