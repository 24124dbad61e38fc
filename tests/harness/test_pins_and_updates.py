"""The fake Discord's pins, guild-only command groups, message updates and files behave as Discord's do."""

from __future__ import annotations

import io

import discord
import pytest

from tests.harness import _faults as routes
from tests.harness._driver import CommandUnavailable

BOT = discord.PermissionOverwrite(view_channel=True, send_messages=True, read_message_history=True)


async def test_a_pinned_message_is_listed_in_the_channels_pins_once(env):
    channel = await env.guild.create_text_channel("pins", overwrites={env.guild.me: BOT})
    first = await channel.send("keep me in reach")
    await channel.send("chatter")
    await first.pin()
    await first.pin()  # pinning again changes nothing
    pinned = [message async for message in channel.pins()]
    assert [m.id for m in pinned] == [first.id] and pinned[0].pinned
    assert env.messages(channel)[0]["pinned"] is True and env.faults.count(routes.PIN_MESSAGE) == 2


async def test_pinning_needs_pin_messages_or_manage_messages(env):
    channel = await env.guild.create_text_channel("no-pins")
    message = await channel.send("text")
    bot_role = next(r for r in env.guild.me.roles if r.name == "Guarantor")
    bot_role._permissions = discord.Permissions(view_channel=True, send_messages=True).value
    with pytest.raises(discord.Forbidden):
        await message.pin()
    assert not env.messages(channel)[0].get("pinned")
    bot_role._permissions = discord.Permissions(view_channel=True, send_messages=True, pin_messages=True).value
    await message.pin()
    assert env.messages(channel)[0]["pinned"] is True


async def test_a_guild_only_group_is_not_offered_in_dms(env):
    with pytest.raises(CommandUnavailable, match="cannot be used in DMs"):
        await env.driver.command("guarantee status", by=env.buyer)
    shown = await env.driver.command("harness whoami", by=env.buyer)  # a group offered everywhere still works
    assert "guild=None" in shown.content


async def test_a_button_that_updates_its_message_reports_the_message_as_it_now_reads(env):
    await env.driver.command("harness panel", by=env.officer, channel=env.channel)
    clicked = await env.driver.click(env.last_message(env.channel), "harness:count:0", by=env.buyer)
    assert clicked.response_type == 7 and clicked.content == "count 1" and not clicked.ephemeral
    assert clicked.components[0]["components"][0]["custom_id"] == "harness:count:1"


async def test_a_message_with_files_keeps_its_text_and_lists_each_file_by_name_and_size(env, tmp_path):
    channel = await env.guild.create_text_channel("files", overwrites={env.guild.me: BOT})
    page = tmp_path / "page.html"
    page.write_bytes(b"<p>hello</p>")
    await channel.send("two files", files=[discord.File(page), discord.File(io.BytesIO(b"abc"), filename="a.txt")])
    (stored,) = env.messages(channel)  # discord.py sends text and files as multipart: the text is not lost
    assert stored["content"] == "two files"
    assert [(a["filename"], a["size"]) for a in stored["attachments"]] == [("page.html", 12), ("a.txt", 3)]
