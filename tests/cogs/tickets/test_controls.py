"""The ticket's summary message carries the escrow extension's controls (`cogs.escrow.controls_for`)."""

from __future__ import annotations

import discord

from cogs.escrow import controls_for
from tests.cogs.tickets.conftest import open_ticket, ticket_channels


def custom_ids(view: discord.ui.View) -> list[str]:
    return [str(item.custom_id) for item in view.children if getattr(item, "custom_id", None)]  # type: ignore[attr-defined]


async def test_summary_carries_the_escrow_controls_for_the_current_state(env, deliver):
    await deliver()
    await open_ticket(env)
    (channel,) = ticket_channels(env)
    summary = env.messages(channel)[0]
    shown = [b["custom_id"] for row in summary["components"] for b in row["components"]]
    expected = custom_ids(controls_for("ord_1", "awaiting_funding"))
    assert shown == expected and expected and all(":ord_1" in cid for cid in shown)
