"""The bot runs with Discord's default intents, as in production: no member cache but its own member;
people come from interactions and from the fake REST API, which answers from the Discord side."""

from __future__ import annotations

import discord
import pytest

from tests.harness import _faults as routes


def cached_member_ids(env) -> dict[int, list[int]]:
    return {guild.id: [m.id for m in guild.members] for guild in env.bot.guilds}


def only_the_bot(env) -> dict[int, list[int]]:
    return {guild.id: [env.bot.user.id] for guild in env.bot.guilds}


async def test_the_bot_runs_with_the_default_intents_create_bot_gives_it(discord_env):
    bot = discord_env.bot
    assert bot.intents == discord.Intents.default() and not bot.intents.members
    assert bot._connection.member_cache_flags == discord.MemberCacheFlags.from_intents(discord.Intents.default())


async def test_only_the_bots_own_member_is_cached_after_start_and_after_interactions(env):
    assert cached_member_ids(env) == only_the_bot(env)
    assert env.guild.me.guild_permissions.manage_channels and env.other_guild.me.guild_permissions.manage_roles
    await env.driver.command("harness panel", by=env.officer, channel=env.channel)
    await env.driver.click(env.messages(env.channel)[0], "harness:panel:confirm", by=env.buyer)
    await env.driver.command("harness officer", by=env.outsider, channel=env.channel, user=env.officer)
    await env.driver.command("harness whoami", by=env.stranger, channel=env.other_channel)
    await env.driver.command("harness whoami", by=env.freelancer)  # in a DM
    await env.buyer.send("hello")
    assert cached_member_ids(env) == only_the_bot(env)


async def test_the_member_properties_carry_roles_from_the_discord_side(discord_env):
    env = discord_env
    assert env.officer_role in env.officer.roles and env.guild.get_member(env.officer.id) is None
    newcomer = env.add_member("newcomer", "0042")
    assert newcomer.guild == env.guild and newcomer.roles == [env.guild.default_role]
    assert newcomer in env.members() and env.guild.me in env.members()
    assert env.stranger in env.members(env.other_guild) and env.stranger not in env.members()


async def test_fetch_member_answers_for_members_and_404s_for_others(discord_env):
    env = discord_env
    fetched = await env.guild.fetch_member(env.officer.id)
    assert fetched.id == env.officer.id and env.officer_role in fetched.roles
    newcomer = env.add_member("newcomer", "0042")
    assert (await env.guild.fetch_member(newcomer.id)).name == "newcomer"
    with pytest.raises(discord.NotFound) as caught:
        await env.guild.fetch_member(env.stranger.id)  # a user, but of the other guild only
    assert caught.value.code == 10007
    with pytest.raises(discord.NotFound) as caught:
        await env.guild.fetch_member(123456789012345678)
    assert caught.value.code == 10007
    assert env.faults.count(routes.GET_MEMBER) == 4
    assert env.guild.get_member(env.officer.id) is None  # fetching does not fill the cache


async def test_fetch_user_answers_for_users_and_404s_for_unknown_ids(discord_env):
    env = discord_env
    assert (await env.bot.fetch_user(env.stranger.id)).name == "stranger"
    assert (await env.bot.fetch_user(env.bot.user.id)).bot
    with pytest.raises(discord.NotFound) as caught:
        await env.bot.fetch_user(123456789012345678)
    assert caught.value.code == 10013
    assert env.faults.count(routes.GET_USER) == 3


async def test_a_user_option_resolves_to_a_member_with_roles(env, seen):
    newcomer = env.add_member("newcomer", "0042")
    await env.officer.add_roles(env.officer_role)  # no change: already an officer
    await env.driver.command(
        "harness echo", by=env.buyer, channel=env.channel, text="hi", count=1, who=env.officer,
        role=env.officer_role, where=env.channel,
    )  # fmt: skip
    who = seen.last("echo")[2]
    assert isinstance(who, discord.Member) and who.id == env.officer.id and env.officer_role in who.roles
    result = await env.driver.command("harness officer", by=env.buyer, channel=env.channel, user=newcomer)
    assert result.content == f"{newcomer.id} has 0 role(s)"


async def test_a_mention_in_a_message_resolves_from_the_discord_side(discord_env):
    env = discord_env
    sent = await env.channel.send(f"hello <@{env.officer.id}> and <@{env.stranger.id}> and <@123456789012345678>")
    (officer, stranger) = (await env.channel.fetch_message(sent.id)).mentions
    assert isinstance(officer, discord.Member) and env.officer_role in officer.roles
    assert not isinstance(stranger, discord.Member) and stranger.id == env.stranger.id


async def test_a_restarted_bot_gets_no_member_list_and_people_still_work(discord_env):
    env = discord_env
    await env.officer.remove_roles(env.officer_role)
    env.close_dms(env.buyer)
    await env.restart()
    assert cached_member_ids(env) == only_the_bot(env)
    assert env.guild.me.guild_permissions.manage_channels
    assert env.officer_role not in env.officer.roles
    with pytest.raises(discord.Forbidden):
        await env.buyer.send("still closed")
    assert (await env.guild.fetch_member(env.freelancer.id)).name == "freelancer"
