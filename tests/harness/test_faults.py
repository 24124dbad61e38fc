"""Scripted Discord failures reach the calling code the way discord.py would surface them."""

from __future__ import annotations

import time

import discord
import pytest
from discord.ext import test as dpytest

from tests.harness import _faults as routes


async def test_429_is_retried_after_retry_after_like_discord_py(discord_env):
    env = discord_env
    env.faults.fail(routes.SEND_MESSAGE, 429, times=2, retry_after=0.02)
    started = time.monotonic()
    message = await env.channel.send("eventually")
    assert time.monotonic() - started >= 0.04
    assert env.faults.count(routes.SEND_MESSAGE) == 3
    assert env.faults.failures == [(routes.SEND_MESSAGE, 429)] * 2
    assert env.messages(env.channel)[-1]["id"] == message.id


async def test_429_longer_than_max_ratelimit_timeout_raises_rate_limited(discord_env):
    env = discord_env
    env.faults.max_ratelimit_timeout = 1.0
    env.faults.fail(routes.CREATE_CHANNEL, 429, retry_after=30)
    with pytest.raises(discord.RateLimited) as caught:
        await env.guild.create_text_channel("ticket")
    assert caught.value.retry_after == 30
    assert await env.guild.create_text_channel("ticket")  # the next call goes through


async def test_429_on_every_try_gives_up_after_five(discord_env):
    env = discord_env
    env.faults.fail(routes.EDIT_MESSAGE, 429, times=5, retry_after=0)
    message = await env.channel.send("x")
    with pytest.raises(discord.HTTPException) as caught:
        await message.edit(content="y")
    assert caught.value.status == 429
    assert env.faults.count(routes.EDIT_MESSAGE) == 5


async def test_403_on_create_channel(discord_env):
    env = discord_env
    env.faults.fail(routes.CREATE_CHANNEL, 403)
    with pytest.raises(discord.Forbidden) as caught:
        await env.guild.create_text_channel("ticket")
    assert caught.value.status == 403 and caught.value.code == 50013
    assert [c.name for c in env.guild.text_channels] == ["general"]


async def test_404_fault_and_a_channel_deleted_by_hand(discord_env):
    env = discord_env
    env.faults.fail(routes.SEND_MESSAGE, 404, code=10003)
    with pytest.raises(discord.NotFound):
        await env.channel.send("gone?")
    ticket = await env.guild.create_text_channel("ticket")
    deleted = []

    async def on_guild_channel_delete(channel):
        deleted.append(channel.id)

    env.bot.add_listener(on_guild_channel_delete)
    await env.delete_channel_by_hand(ticket)
    assert deleted == [ticket.id]
    with pytest.raises(discord.NotFound) as caught:
        await ticket.send("anyone?")
    assert caught.value.code == 10003


async def test_server_errors(discord_env):
    env = discord_env
    env.faults.fail(routes.OPEN_DM, 503)
    with pytest.raises(discord.DiscordServerError):
        await env.buyer.send("hello")
    env.faults.fail(routes.SEND_MESSAGE, 500, retry_after=0)
    await env.channel.send("retried")  # 500 is retried, as discord.py does
    assert env.faults.failures[-1] == (routes.SEND_MESSAGE, 500)
    assert env.messages(env.channel)[-1]["content"] == "retried"


async def test_interaction_routes_can_fail_too(env):
    env.faults.fail(routes.INTERACTION_CALLBACK, 404, code=10062, message="Unknown interaction")
    errors = []

    async def on_error(interaction, error):
        errors.append(error)

    env.bot.tree.on_error = on_error
    result = await env.driver.command("harness whoami", by=env.buyer, channel=env.channel)
    assert not result.responded
    assert isinstance(errors[0].original, discord.NotFound) and errors[0].original.code == 10062


async def test_latency_is_simulated_per_route(discord_env):
    env = discord_env
    env.faults.latency[routes.SEND_MESSAGE] = 0.05
    started = time.monotonic()
    await env.channel.send("slow")
    assert time.monotonic() - started >= 0.05
    started = time.monotonic()
    await env.channel.fetch_message(env.messages(env.channel)[-1]["id"])
    assert time.monotonic() - started < 0.05
    await dpytest.run_all_events()
