"""The summary message carries the escrow extension's controls once `cogs.escrow.controls_for` exists."""

from __future__ import annotations

import sys
import types

import discord

from tests.cogs.guarantee.conftest import gig
from tests.webhooks.events import agreed, dumps, signed_headers
from webhooks import create_app


def fake_escrow_module(calls: list[tuple[str, str]]) -> types.ModuleType:
    def controls_for(order_id: str, state: str) -> discord.ui.View:
        calls.append((order_id, state))
        view = discord.ui.View(timeout=None)
        view.add_item(discord.ui.Button(label="Funded", custom_id=f"guarantee:fund:{order_id}"))
        return view

    module = types.ModuleType("cogs.escrow")
    module.controls_for = controls_for  # type: ignore[attr-defined]
    return module


async def test_summary_carries_the_escrow_controls(make_discord_env, monkeypatch, aiohttp_client):
    calls: list[tuple[str, str]] = []
    monkeypatch.setitem(sys.modules, "cogs.escrow", fake_escrow_module(calls))
    env = await make_discord_env()
    runtime = env.bot.runtime
    await runtime.processor.close()
    client = await aiohttp_client(create_app(intake=runtime.intake, verifier=runtime.verifier, health=runtime))
    body = dumps(agreed())
    assert (await client.post("/webhooks/marketplace", data=body, headers=signed_headers(body))).status == 202
    await runtime.processor.process_due()
    await env.driver.command(
        "guarantee open", by=env.freelancer, channel=env.channel, email="seller@example.com", gig_link=gig()
    )
    (channel,) = [c for c in env.guild.text_channels if c.name == "guarantee-ord_1"]
    summary = env.messages(channel)[0]
    assert calls == [("ord_1", "awaiting_funding")]
    assert [b["custom_id"] for row in summary["components"] for b in row["components"]] == ["guarantee:fund:ord_1"]
