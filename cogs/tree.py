"""The command tree's one fallback error path (PRODUCT.md §3, STYLE.md §5).

Domain errors carry text written for the user; check failures and cooldowns get a plain
sentence; anything else is logged with its traceback and answered with a generic line.
Every answer is ephemeral and goes through `respond`, which switches to a followup once
the interaction was answered (or deferred).
"""

from __future__ import annotations

import logging
from datetime import timedelta

import discord
from discord import app_commands

from bot.db.types import utcnow
from bot.services.errors import GuaranteeError
from bot.services.vocabulary import relative_time

log = logging.getLogger(__name__)

GENERIC = "Something went wrong on my side; it has been logged. Please try again {when}."


async def respond(
    interaction: discord.Interaction,
    content: str | None = None,
    *,
    embed: discord.Embed | None = None,
    view: discord.ui.View | None = None,
) -> None:
    """Answer ephemerally, as the first response or as a followup once one was sent (or deferred)."""
    embed_arg = discord.utils.MISSING if embed is None else embed
    view_arg = discord.utils.MISSING if view is None else view
    if interaction.response.is_done():
        await interaction.followup.send(
            content or discord.utils.MISSING, embed=embed_arg, view=view_arg, ephemeral=True
        )
    else:
        await interaction.response.send_message(content, embed=embed_arg, view=view_arg, ephemeral=True)


def in_a_while(seconds: float) -> str:
    """A moment `seconds` from now, as Discord shows it to each reader ("in 42 seconds")."""
    return relative_time(utcnow() + timedelta(seconds=max(seconds, 1)))


def _missing(names: list[str]) -> str:
    return ", ".join(name.replace("_", " ").replace("guild", "server").title() for name in names)


def describe(error: app_commands.AppCommandError) -> str | None:
    """User-facing text for an expected failure; None for a bug."""
    original = getattr(error, "original", error)
    if isinstance(original, GuaranteeError):
        return str(original)
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command works only in a server, not in direct messages. Run it in the marketplace's server."
    if isinstance(error, app_commands.MissingPermissions):
        return (
            f"Only members with the {_missing(error.missing_permissions)} permission can do this. "
            "Ask a server admin to do it for you."
        )
    if isinstance(error, app_commands.BotMissingPermissions):
        return f"I need the {_missing(error.missing_permissions)} permission here. Ask a server admin to grant it."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"You're going too fast: try again {in_a_while(error.retry_after)}."
    if isinstance(error, app_commands.CheckFailure):
        return str(error) or "You can't use this command here."
    return None


class GuarantorTree(app_commands.CommandTree[discord.Client]):
    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        original = getattr(error, "original", error)
        runtime = getattr(interaction.client, "runtime", None)
        if isinstance(original, discord.HTTPException) and runtime is not None:
            runtime.metrics.observe_discord_error(original)
        text = describe(error)
        if text is None:
            command = interaction.command.qualified_name if interaction.command else "?"
            log.exception("unexpected error in /%s", command, exc_info=error)
            text = GENERIC.format(when=in_a_while(60))
        try:
            await respond(interaction, text)
        except discord.HTTPException:
            log.warning("could not deliver the error reply for interaction %s", interaction.id)
