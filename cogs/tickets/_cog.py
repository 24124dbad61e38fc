"""The `/guarantee` command group: check, call one service, reply (ephemerally)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.services.errors import GuaranteeError
from bot.services.escrow.rules import State
from bot.services.guilds import chosen_officer_role
from bot.services.tickets.proof import CodeSent
from bot.services.tickets.queries import TicketQueries
from bot.services.vocabulary import OFFICER, capitalised
from cogs.closing._views import confirmation as close_confirmation
from cogs.escrow import controls_for
from cogs.people import actor_of, can_pin, lacking_permissions, officer_role
from cogs.tickets import _replies as _render
from cogs.tickets._channels import DiscordTicketOpener
from cogs.tickets._proof import CodeButton, send_code_reply
from cogs.tree import respond

if TYPE_CHECKING:
    from bot.services.guilds import Actor
    from cogs.client import GuarantorBot

_TICKET_CHOICES = (
    ("Open tickets", "open"),
    ("Tickets being opened", "opening"),
    ("Tickets whose channel was deleted", "orphaned"),
    ("Tickets being closed", "closing"),
    ("Closed tickets", "closed"),
)
STATE_CHOICES = [app_commands.Choice(name=name, value=value) for name, value in _TICKET_CHOICES]
STATE_CHOICES += [app_commands.Choice(name=f"Escrow: {capitalised(s.label)}", value=s.value) for s in State]


@app_commands.guild_only()  # tickets live in a server: the group is not offered in DMs at all
class GuaranteeCog(
    commands.GroupCog, group_name="guarantee", group_description="Escrow tickets for marketplace orders"
):
    def __init__(self, bot: GuarantorBot) -> None:
        self.bot = bot
        self.tickets = bot.runtime.tickets
        self.queries = TicketQueries(bot.runtime.sessions)
        self.guilds = bot.runtime.guilds
        super().__init__()

    async def cog_load(self) -> None:
        opener = DiscordTicketOpener(
            self.bot, self.guilds, officer_role_name=self.bot.settings.officer_role_name, controls=controls_for
        )
        self.tickets.attach(opener)
        self.bot.add_dynamic_items(CodeButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(CodeButton)
        self.tickets.attach(None)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.guild is None:  # an old client may still send one from a DM
            raise app_commands.NoPrivateMessage()
        return True

    def _actor(self, user: discord.abc.User) -> Actor:
        return actor_of(user, self.bot.settings.officer_role_name)

    # ---- events ----------------------------------------------------------------------------
    @commands.Cog.listener()
    async def on_ready(self) -> None:
        self.bot.runtime.effects.wake()  # Discord's cache is filled: the effects that waited for it may run

    @commands.Cog.listener()
    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        await self.tickets.channel_deleted(channel.id)

    # ---- commands --------------------------------------------------------------------------
    @app_commands.command(name="open")
    @app_commands.checks.cooldown(10, 60.0, key=lambda i: i.user.id)
    async def open_ticket(
        self,
        interaction: discord.Interaction,
        email: app_commands.Range[str, 3, 320],
        gig_link: app_commands.Range[str, 1, 2000],
    ) -> None:
        """Verify your agreed order and open its private guarantee ticket (freelancers).

        Parameters
        ----------
        email
            The email of your marketplace account: the seller email of the order.
        gig_link
            The link to the order's gig on the marketplace.
        """
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.tickets.open(
            guild_id=interaction.guild_id or 0,
            user_id=interaction.user.id,
            channel_id=interaction.channel_id,
            email=email,
            gig_link=gig_link,
        )
        if isinstance(result, CodeSent):
            await send_code_reply(interaction, result)
            return
        await respond(interaction, _render.open_reply(result, self.bot.settings.pending_request_hours))

    @app_commands.command(name="join")
    @app_commands.checks.cooldown(10, 60.0, key=lambda i: i.user.id)
    async def join_ticket(
        self,
        interaction: discord.Interaction,
        order_id: app_commands.Range[str, 1, 64],
        email: app_commands.Range[str, 3, 320],
    ) -> None:
        """Verify that you are the buyer of an order and join its guarantee ticket (buyers).

        Parameters
        ----------
        order_id
            The order id shown on the marketplace order page.
        email
            The email of your marketplace account: the buyer email of the order.
        """
        await interaction.response.defer(ephemeral=True, thinking=True)
        joined = await self.tickets.join(
            guild_id=interaction.guild_id or 0, user_id=interaction.user.id, order_id=order_id, email=email
        )
        if isinstance(joined, CodeSent):
            await send_code_reply(interaction, joined)
            return
        await respond(interaction, _render.join_reply(joined))

    @app_commands.command(name="status")
    async def status(
        self, interaction: discord.Interaction, order_id: app_commands.Range[str, 1, 64] | None = None
    ) -> None:
        """Show an order's state, terms and history (its parties and officers only).

        Parameters
        ----------
        order_id
            The order to show; leave empty for this ticket channel's order, or your newest one.
        """
        await interaction.response.defer(ephemeral=True, thinking=True)
        status = await self.queries.status(
            self._actor(interaction.user), order_id=order_id, channel_id=interaction.channel_id
        )
        await respond(interaction, embed=_render.status_embed(status))

    @app_commands.command(name="queue")
    @app_commands.choices(state=STATE_CHOICES)
    async def queue(
        self,
        interaction: discord.Interaction,
        state: app_commands.Choice[str] | None = None,
        page: app_commands.Range[int, 1, 1000] = 1,
    ) -> None:
        """List this server's tickets, unclaimed first, then oldest first (officers only).

        Parameters
        ----------
        state
            Only tickets in this ticket or escrow state (default: every open ticket).
        page
            Which page of ten to show.
        """
        await interaction.response.defer(ephemeral=True, thinking=True)
        wanted = state.value if state else None
        result = await self.queries.queue(self._actor(interaction.user), state=wanted, page=page)
        await respond(interaction, embed=_render.queue_embed(result, wanted))

    @app_commands.command(name="close")
    async def close_ticket(
        self, interaction: discord.Interaction, reason: app_commands.Range[str, 1, 500] | None = None
    ) -> None:
        """Close this ticket once its payment is released or refunded, or its order cancelled (officers only).

        Parameters
        ----------
        reason
            Why the ticket is closed, for the record (optional).
        """
        await interaction.response.defer(ephemeral=True, thinking=True)
        asked = await self.bot.runtime.closing.question(
            self._actor(interaction.user), channel_id=interaction.channel_id
        )
        text, view = close_confirmation(asked, reason)
        await respond(interaction, text, view=view)

    @app_commands.command(name="officer")
    async def officer(self, interaction: discord.Interaction, user: discord.Member) -> None:
        """Check whether someone really is a Guarantor Officer in this server (anyone may ask).

        Parameters
        ----------
        user
            The person who says they are an officer.
        """
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.guild is not None
        config = await self.guilds.get(interaction.guild.id)
        role = officer_role(interaction.guild, chosen_officer_role(config), self.bot.settings.officer_role_name)
        if role is not None and role in user.roles:
            text = (
                f"✅ {user.mention} **is** a {OFFICER} in this server (role {role.mention}). Even so, pay only as "
                "posted in your ticket, never by DM."
            )
        else:
            text = (
                f"❌ {user.mention} is **NOT** a {OFFICER} in this server. Do not send them money or "
                "personal details; officers never DM first. Report them to the server's moderators."
            )
        await respond(interaction, text)

    @app_commands.command(name="setup")
    # Discord honours `default_permissions` only on a top-level command, and `/guarantee setup` is a subcommand
    # (its name is part of the product's contract): it stays listed, and this check refuses non-admins.
    @app_commands.checks.has_permissions(manage_guild=True)
    async def setup_guild(
        self,
        interaction: discord.Interaction,
        officer_role: discord.Role,
        category: discord.CategoryChannel | None = None,
        log_channel: discord.TextChannel | None = None,
    ) -> None:
        """Choose the officer role, ticket category and log channel of this server (Manage Server).

        Parameters
        ----------
        officer_role
            The role of the Guarantor Officers: pinged on new tickets, sees every ticket.
        category
            The category new ticket channels go in (a full one overflows into a new one).
        log_channel
            Where closed tickets' transcripts are posted.
        """
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.guild is not None
        if officer_role.is_default() or officer_role.managed:
            raise GuaranteeError("Pick a real role for the officers, not @everyone or a bot's own role.")
        await self.guilds.configure(
            guild_id=interaction.guild.id,
            officer_role_id=officer_role.id,
            category_id=category.id if category else None,
            log_channel_id=log_channel.id if log_channel else None,
            by=interaction.user.id,
        )
        await respond(interaction, _setup_reply(interaction.guild, officer_role, category, log_channel))

    @join_ticket.autocomplete("order_id")
    @status.autocomplete("order_id")
    async def _order_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        choices = await self.queries.order_choices(self._actor(interaction.user), current)
        return [app_commands.Choice(name=name, value=value) for name, value in choices]


def _setup_reply(
    guild: discord.Guild,
    role: discord.Role,
    category: discord.CategoryChannel | None,
    log_channel: discord.TextChannel | None,
) -> str:
    lines = [
        "✅ Saved.",
        f"Officer role: {role.mention}",
        f"Ticket category: {category.mention if category else 'unchanged (I create “Guarantee tickets” if none)'}",
        f"Log channel: {log_channel.mention if log_channel else 'unchanged'}",
    ]
    if lacking := lacking_permissions(guild):
        lines.append(
            f"⚠️ I still need the **{'** and **'.join(lacking)}** permission(s) to open tickets: grant them to my role."
        )
    if not can_pin(guild):
        lines.append("⚠️ Grant my role **Pin Messages** too, so I can pin each ticket's summary and its safety notice.")
    return "\n".join(lines)
