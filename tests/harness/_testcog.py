"""A small test-only cog that exercises every interaction kind, for the harness self-tests."""

from __future__ import annotations

import re
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

PANEL_BUTTON = "harness:panel:confirm"
PANEL_SELECT = "harness:panel:select"


class Seen:
    """What the handlers received, so tests can assert on it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def last(self, name: str) -> Any:
        return next(value for key, value in reversed(self.calls) if key == name)


class PanelView(discord.ui.View):
    def __init__(self, seen: Seen) -> None:
        super().__init__(timeout=None)
        self.seen = seen

    @discord.ui.button(label="Confirm", custom_id=PANEL_BUTTON, style=discord.ButtonStyle.success)
    async def confirm(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.seen.calls.append(("confirm", interaction.user.id))
        await interaction.response.send_message(f"confirmed by {interaction.user.id}", ephemeral=True)

    @discord.ui.select(custom_id=PANEL_SELECT, options=[discord.SelectOption(label=x) for x in ("red", "blue")])
    async def colour(self, interaction: discord.Interaction, select: discord.ui.Select) -> None:
        self.seen.calls.append(("select", list(select.values)))
        await interaction.response.edit_message(content=f"picked {','.join(select.values)}")


class CounterButton(discord.ui.DynamicItem[discord.ui.Button], template=r"harness:count:(?P<n>\d+)"):
    def __init__(self, n: int) -> None:
        super().__init__(discord.ui.Button(label=str(n), custom_id=f"harness:count:{n}"))
        self.n = n

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: Any, match: re.Match[str]) -> CounterButton:
        return cls(int(match["n"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.edit_message(content=f"count {self.n + 1}", view=_counter_view(self.n + 1))


def _counter_view(n: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CounterButton(n))
    return view


class Form(discord.ui.Modal, title="Harness form"):
    reason = discord.ui.TextInput(label="Reason", custom_id="reason")
    amount = discord.ui.TextInput(label="Amount", custom_id="amount", required=False)

    def __init__(self, seen: Seen) -> None:
        super().__init__(custom_id="harness:form")
        self.seen = seen

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.seen.calls.append(("form", {"reason": self.reason.value, "amount": self.amount.value}))
        await interaction.response.send_message(f"got {self.reason.value}", ephemeral=True)


class HarnessCog(commands.Cog):
    group = app_commands.Group(name="harness", description="harness self-test commands")
    admin_group = app_commands.Group(
        name="harness-admin", description="admins only", default_permissions=discord.Permissions(manage_guild=True)
    )

    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    @group.command(name="echo")
    async def echo(
        self,
        interaction: discord.Interaction,
        text: str,
        count: int,
        who: discord.Member,
        role: discord.Role,
        where: discord.TextChannel,
    ) -> None:
        """Echo every option type back."""
        self.seen.calls.append(("echo", (text, count, who, role, where)))
        await interaction.response.send_message(f"{text} x{count}", ephemeral=True)

    @group.command(name="whoami")
    async def whoami(self, interaction: discord.Interaction) -> None:
        """Reply with where and who, publicly."""
        perms = interaction.permissions
        await interaction.response.send_message(f"guild={interaction.guild_id} manage_guild={perms.manage_guild}")

    @group.command(name="guarded")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def guarded(self, interaction: discord.Interaction) -> None:
        """Only members with Manage Server get past the check."""
        await interaction.response.send_message("welcome", ephemeral=True)

    @group.command(name="slow")
    async def slow(self, interaction: discord.Interaction) -> None:
        """Defer, then answer with a followup."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.followup.send("done", ephemeral=True)

    @group.command(name="officer")
    async def officer(self, interaction: discord.Interaction, user: discord.Member) -> None:
        """An option named `user`, like /guarantee officer."""
        await interaction.response.send_message(f"{user.id} has {len(user.roles) - 1} role(s)", ephemeral=True)

    @group.command(name="draft")
    async def draft(self, interaction: discord.Interaction) -> None:
        """Answer publicly, then edit the original response."""
        await interaction.response.send_message("draft")
        await interaction.edit_original_response(content="final", embed=discord.Embed(title="Final"))

    @group.command(name="form")
    async def form(self, interaction: discord.Interaction) -> None:
        """Show a modal."""
        await interaction.response.send_modal(Form(self.seen))

    @group.command(name="panel")
    async def panel(self, interaction: discord.Interaction) -> None:
        """Post a message with a persistent view and a dynamic counter button."""
        await interaction.channel.send("panel", view=PanelView(self.seen))
        await interaction.channel.send("count 0", view=_counter_view(0))
        await interaction.response.send_message("posted", ephemeral=True)

    @group.command(name="pick")
    async def pick(self, interaction: discord.Interaction, fruit: str) -> None:
        """Pick a fruit (autocompleted)."""
        await interaction.response.send_message(fruit, ephemeral=True)

    @pick.autocomplete("fruit")
    async def pick_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice]:
        fruits = ("apple", "apricot", "banana")
        return [app_commands.Choice(name=f, value=f) for f in fruits if f.startswith(current)]

    @admin_group.command(name="ping")
    async def admin_ping(self, interaction: discord.Interaction) -> None:
        """Hidden from members without Manage Server."""
        await interaction.response.send_message("pong", ephemeral=True)


async def install(bot: commands.Bot, seen: Seen) -> None:
    """Register the cog, the persistent view and the dynamic item, as a bot's setup_hook would."""
    await bot.add_cog(HarnessCog(seen))
    bot.add_view(PanelView(seen))
    bot.add_dynamic_items(CounterButton)
