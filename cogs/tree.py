"""The command tree's one fallback error path (PRODUCT.md §3, STYLE.md §5).

Domain errors carry text written for the user; check failures and cooldowns get a plain
sentence; anything else is logged with its traceback and answered with a generic line.
Every answer is ephemeral and goes through `respond`, which switches to a followup once
the interaction was answered (or deferred).
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.services.errors import GuaranteeError

log = logging.getLogger(__name__)

GENERIC = "Something went wrong on my side; it has been logged. Please try again in a minute."


async def respond(
    interaction: discord.Interaction, content: str | None = None, *, embed: discord.Embed | None = None
) -> None:
    """Answer ephemerally, as the first response or as a followup once one was sent (or deferred)."""
    embed_arg = discord.utils.MISSING if embed is None else embed
    if interaction.response.is_done():
        await interaction.followup.send(content or discord.utils.MISSING, embed=embed_arg, ephemeral=True)
    else:
        await interaction.response.send_message(content, embed=embed_arg, ephemeral=True)


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
        return f"You need the {_missing(error.missing_permissions)} permission to do this."
    if isinstance(error, app_commands.BotMissingPermissions):
        return f"I need the {_missing(error.missing_permissions)} permission here. Ask a server admin to grant it."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down: try again in {error.retry_after:.0f} seconds."
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
            text = GENERIC
        try:
            await respond(interaction, text)
        except discord.HTTPException:
            log.warning("could not deliver the error reply for interaction %s", interaction.id)
