"""Each dpytest fix, pinned by what a ticket bot does with discord.py 2.7."""

from __future__ import annotations

import discord
import pytest
from discord.ext import test as dpytest

HIDDEN = discord.PermissionOverwrite(view_channel=False)
SHOWN = discord.PermissionOverwrite(view_channel=True, send_messages=True)
# Like real Discord, the bot cannot manage a channel it cannot see, so it lets itself in.
BOT = discord.PermissionOverwrite(view_channel=True, send_messages=True, manage_channels=True, manage_roles=True)


async def private_channel(env, name="ticket-1", category=None):
    overwrites = {env.guild.default_role: HIDDEN, env.guild.me: BOT, env.freelancer: SHOWN, env.officer_role: SHOWN}
    return await env.guild.create_text_channel(name, overwrites=overwrites, category=category)


async def test_world_has_the_people_and_roles_a_ticket_needs(discord_env):
    env = discord_env
    assert env.admin.guild_permissions.manage_guild and not env.outsider.guild_permissions.manage_guild
    assert env.officer_role.name == "Guarantor Officer"
    assert env.officer_role in env.officer.roles and env.officer_role in env.officer_party.roles
    assert env.officer_role not in env.freelancer.roles
    me = env.guild.me.guild_permissions
    assert me.manage_channels and me.manage_roles
    assert env.bot.get_cog("GuaranteeCog") is not None


async def test_overwrites_keep_their_role_or_member_type(discord_env):
    env = discord_env
    channel = await private_channel(env)
    assert channel.permissions_for(env.freelancer).view_channel
    assert channel.permissions_for(env.officer).view_channel
    assert not channel.permissions_for(env.outsider).view_channel
    assert not channel.permissions_for(env.buyer).view_channel
    await channel.set_permissions(env.buyer, overwrite=SHOWN)
    assert channel.permissions_for(env.buyer).view_channel
    assert isinstance(next(iter(channel.overwrites)), discord.Role | discord.Member)
    await channel.set_permissions(env.buyer, overwrite=None)
    assert not channel.permissions_for(env.buyer).view_channel


async def test_create_role_accepts_discord_py_27_fields(discord_env):
    role = await discord_env.guild.create_role(
        name="Escrow", colour=discord.Colour.gold(), permissions=discord.Permissions(manage_messages=True)
    )
    assert discord_env.guild.get_role(role.id) == role
    assert role.name == "Escrow" and role.colour == discord.Colour.gold() and role.permissions.manage_messages


async def test_categories_report_their_channels(discord_env):
    env = discord_env
    category = await env.guild.create_category(
        "Tickets", overwrites={env.guild.default_role: HIDDEN, env.guild.me: BOT}
    )
    channel = await private_channel(env, category=category)
    assert channel.category == category
    assert category.channels == [channel] and category.text_channels == [channel]
    assert not channel.permissions_for(env.outsider).view_channel
    moved = await channel.edit(category=None)
    assert moved.category is None and category.channels == []


async def test_bot_messages_keep_components_and_channel_id(discord_env):
    env = discord_env
    view = discord.ui.View()
    view.add_item(discord.ui.Button(label="Release", custom_id="guarantee:release:1"))
    sent = await env.channel.send(
        f"{env.officer_role.mention} new ticket",
        embed=discord.Embed(title="Order 1"),
        view=view,
        allowed_mentions=discord.AllowedMentions(roles=[env.officer_role]),
    )
    stored = env.messages(env.channel)[-1]
    assert stored["channel_id"] == env.channel.id
    assert stored["components"][0]["components"][0]["custom_id"] == "guarantee:release:1"
    fetched = await env.channel.fetch_message(sent.id)
    assert fetched.components[0].children[0].custom_id == "guarantee:release:1"
    assert fetched.embeds[0].title == "Order 1"
    assert dpytest.get_message().id == sent.id


async def test_editing_a_message_updates_content_and_components(discord_env):
    env = discord_env
    view = discord.ui.View()
    view.add_item(discord.ui.Button(label="Fund", custom_id="guarantee:fund:1"))
    sent = await env.channel.send("awaiting funding", view=view)
    done = discord.ui.View()
    done.add_item(discord.ui.Button(label="Funded", custom_id="guarantee:funded:1", disabled=True))
    await sent.edit(content="funded", view=done)
    fetched = await env.channel.fetch_message(sent.id)
    assert fetched.content == "funded"
    button = fetched.components[0].children[0]
    assert button.custom_id == "guarantee:funded:1" and button.disabled
    await sent.edit(embed=discord.Embed(title="Funded"))
    assert (await env.channel.fetch_message(sent.id)).components[0].children[0].disabled


async def test_history_is_newest_first_and_deleting_a_message_removes_it(discord_env):
    env = discord_env
    first = await env.channel.send("one")
    await env.channel.send("two")
    assert [m.content async for m in env.channel.history(limit=10)] == ["two", "one"]
    await first.delete()
    with pytest.raises(discord.NotFound):
        await env.channel.fetch_message(first.id)


async def test_channel_delete_dispatches_and_later_calls_404(discord_env):
    env = discord_env
    deleted = []

    async def on_guild_channel_delete(channel):
        deleted.append(channel)

    env.bot.add_listener(on_guild_channel_delete)
    channel = await private_channel(env)
    await channel.delete()
    await dpytest.run_all_events()
    assert [c.id for c in deleted] == [channel.id]
    assert env.guild.get_channel(channel.id) is None
    with pytest.raises(discord.NotFound):
        await channel.send("anyone?")


async def test_dms_reach_members_unless_their_dms_are_closed(discord_env):
    env = discord_env
    message = await env.buyer.send("your order is funded")
    assert isinstance(message.channel, discord.DMChannel)
    assert env.messages(message.channel)[-1]["content"] == "your order is funded"
    env.close_dms(env.buyer)
    with pytest.raises(discord.Forbidden) as caught:
        await env.buyer.send("again")
    assert caught.value.code == 50007
    await env.freelancer.send("still fine")


async def test_missing_permissions_are_enforced_like_discord(discord_env):
    env = discord_env
    me = env.guild.me
    await me.remove_roles(*[r for r in me.roles if not r.is_default()])
    with pytest.raises(discord.Forbidden) as caught:
        await env.guild.create_text_channel("nope")
    assert caught.value.code == 50013


async def test_roles_can_be_given_and_taken(discord_env):
    env = discord_env
    await env.buyer.add_roles(env.officer_role)
    assert env.officer_role in env.buyer.roles
    await env.buyer.remove_roles(env.officer_role)
    assert env.officer_role not in env.buyer.roles


async def test_a_full_category_refuses_a_51st_channel(discord_env):
    env = discord_env
    category = await env.guild.create_category("Tickets")
    for n in range(50):
        await env.guild.create_text_channel(f"t{n}", category=category)
    with pytest.raises(discord.HTTPException) as caught:
        await env.guild.create_text_channel("t50", category=category)
    assert caught.value.status == 400 and caught.value.code == 50035
    assert len(category.channels) == 50


async def test_what_the_fake_discord_returns_is_a_copy_of_what_it_keeps(env) -> None:
    """Changing a message the bot fetched (as an edit that then fails would) leaves Discord's copy alone."""
    channel = env.channel
    sent = await channel.send(embed=discord.Embed(title="summary").add_field(name="Escrow", value="funded"))
    fetched = await channel.fetch_message(sent.id)
    fetched.embeds[0].set_field_at(0, name="Escrow", value="released")
    fetched.embeds[0].add_field(name="extra", value="x")
    (stored,) = [m for m in env.messages(channel) if int(m["id"]) == sent.id]
    assert stored["embeds"][0]["fields"] == [{"name": "Escrow", "value": "funded", "inline": True}]
    again = await channel.fetch_message(sent.id)
    assert [f.value for f in again.embeds[0].fields] == ["funded"]
