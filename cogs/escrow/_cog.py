"""Escrow in Discord: who is clicking (officer / buyer / freelancer / outsider), ask the
service, reply ephemerally; after every change the announcer updates the ticket."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

import discord
from discord.ext import commands

from bot.services.errors import GuaranteeError
from bot.services.escrow.rules import Action, Role, State, pick_role
from bot.services.tickets.guilds import GuildSettings
from bot.services.tickets.service import ticket_for_order
from cogs.escrow._announce import Announcer
from cogs.escrow._views import EscrowButton, NoteModal
from cogs.tickets._channels import officer_role
from cogs.tree import respond

if TYPE_CHECKING:
    from cogs.client import GuarantorBot

log = logging.getLogger(__name__)


def controller(interaction: discord.Interaction) -> EscrowCog:
    cog = cast("GuarantorBot", interaction.client).get_cog("EscrowCog")
    if not isinstance(cog, EscrowCog):
        raise RuntimeError("the escrow extension is not loaded")
    return cog


class EscrowCog(commands.Cog):
    def __init__(self, bot: GuarantorBot) -> None:
        self.bot = bot
        self.escrow = bot.runtime.escrow
        self.guilds = GuildSettings(bot.runtime.sessions)
        self.announcer = Announcer(bot, self.guilds)

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(EscrowButton)
        self.escrow.add_listener(self.announcer.on_change)

    async def cog_unload(self) -> None:
        self.escrow.remove_listener(self.announcer.on_change)
        self.bot.remove_dynamic_items(EscrowButton)

    async def held_roles(self, user: discord.abc.User, order_id: str) -> set[Role]:
        """Everything this person is on this order: officer here, and/or one of its parties."""
        async with self.bot.runtime.sessions() as session:
            ticket = await ticket_for_order(session=session, order_id=order_id)
        if ticket is None or not isinstance(user, discord.Member) or user.guild.id != ticket.guild_id:
            return set()
        held = set()
        role = officer_role(user.guild, await self.guilds.get(user.guild.id), self.bot.settings.officer_role_name)
        if role is not None and role in user.roles:
            held.add(Role.OFFICER)
        if ticket.freelancer_id == user.id:
            held.add(Role.FREELANCER)
        if ticket.buyer_id == user.id:
            held.add(Role.BUYER)
        return held

    async def _role(self, interaction: discord.Interaction, order_id: str, action: Action) -> tuple[Role, int]:
        """The role this person acts in, and the escrow version that decision was made on."""
        escrow = await self.escrow.get(order_id)
        return pick_role(action, State(escrow.state), await self.held_roles(interaction.user, order_id)), escrow.version

    async def clicked(self, interaction: discord.Interaction, order_id: str, action: Action) -> None:
        """A button: refuse with the reason, ask for the note the action needs, or act.

        The version seen here travels with the form (and the direct action), so if the escrow
        moves before the person finishes, the service refuses instead of acting on a state
        they never saw (a release typed as an override must not become a dispute resolution).
        """
        try:
            role, version = await self._role(interaction, order_id, action)
            need = await self.escrow.preview(order_id, action, actor_id=interaction.user.id, actor_role=role)
        except GuaranteeError as exc:
            await respond(interaction, str(exc))
            return
        if need is not None:
            await interaction.response.send_modal(NoteModal(order_id, action, need, version))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self._act(interaction, order_id, action, role, None, version)

    async def submitted(
        self, interaction: discord.Interaction, order_id: str, action: Action, note: str, version: int
    ) -> None:
        """A note form: act only if the escrow is still at the version the form was opened on."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            role, _ = await self._role(interaction, order_id, action)
        except GuaranteeError as exc:
            await respond(interaction, str(exc))
            return
        await self._act(interaction, order_id, action, role, note, version)

    async def _act(
        self,
        interaction: discord.Interaction,
        order_id: str,
        action: Action,
        role: Role,
        note: str | None,
        version: int,
    ) -> None:
        try:
            change = await self.escrow.act(
                order_id, action, actor_id=interaction.user.id, actor_role=role, note=note, expected_version=version
            )
        except GuaranteeError as exc:
            await respond(interaction, str(exc))
            return
        await respond(interaction, _done(change))


def _done(change: Any) -> str:
    if change.action is Action.CLAIM:
        return f"You claimed order {change.order_id}."
    if change.action is Action.APPROVE:
        return f"Your approval of order {change.order_id} is recorded; an officer can now release the funds."
    return f"Done: order {change.order_id} is now {change.target.value.replace('_', ' ')}."
