"""Official servers only (PRODUCT.md §7): guarantees run in `OFFICIAL_GUILD_IDS` and nowhere else.

One gate sees every interaction before discord.py routes it: slash commands, autocomplete,
buttons (persistent views and dynamic items) and forms. One from a server that is not listed is
answered with `REFUSAL` and goes no further, so nothing is looked up or stored for it. The bot
also leaves such servers: when it is added to one, and at every start.

discord.py offers no public hook in front of its routing (`CommandTree.interaction_check` sees app
commands only; components and modals go through the view store), so the gate wraps the
connection state's INTERACTION_CREATE parser, the one place every interaction passes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import discord

log = logging.getLogger(__name__)

REFUSAL = (
    "I work only in the marketplace's official Discord server, and this server is not one of them, so I do "
    "nothing here. Open guarantees in the official server linked from the marketplace."
)
AUTOCOMPLETE = 4


def install_gate(client: discord.Client, allowed: Callable[[int | None], bool]) -> None:
    """Put the gate in front of every interaction `client` receives (`allowed(guild_id)` decides)."""
    state = client._connection
    route: Callable[[Any], None] = state.parse_interaction_create
    pending: set[asyncio.Task[None]] = set()

    def gate(data: Any) -> None:
        guild_id = int(data["guild_id"]) if data.get("guild_id") else None
        if allowed(guild_id):
            route(data)
            return
        interaction = discord.Interaction(data=data, state=state)
        task = asyncio.create_task(_refuse(interaction), name=f"guarantor-refuse-{interaction.id}")
        pending.add(task)
        task.add_done_callback(pending.discard)

    # The gateway calls parsers by event name; the instance attribute covers direct calls.
    state.parsers["INTERACTION_CREATE"] = gate
    setattr(state, "parse_interaction_create", gate)  # noqa: B010 (shadows the method on this instance)


async def _refuse(interaction: discord.Interaction) -> None:
    log.info("refused an interaction from server %s: not an official server", interaction.guild_id)
    try:
        if int(interaction.type.value) == AUTOCOMPLETE:
            await interaction.response.autocomplete([])
        else:
            await interaction.response.send_message(REFUSAL, ephemeral=True)
    except discord.HTTPException as exc:
        log.warning("could not refuse interaction %s (%s)", interaction.id, exc.status)


async def leave_if_unofficial(guild: discord.Guild, allowed: Callable[[int | None], bool]) -> bool:
    """Leave `guild` unless it is an official server; True when the bot left it."""
    if allowed(guild.id):
        return False
    try:
        await guild.leave()
    except discord.HTTPException as exc:
        log.warning("could not leave server %s, which is not an official server (%s)", guild.id, exc.status)
        return False
    log.warning("left server %s: it is not in OFFICIAL_GUILD_IDS", guild.id)
    return True
