"""The fake `GET /channels/{id}/messages` answers like Discord, so discord.py's history pages as in production."""

from __future__ import annotations

from tests.harness import _faults as routes
from tests.harness import _server


def fill(env, count: int) -> list[int]:
    """`count` messages by the freelancer in the general channel, stored the way Discord holds them."""
    return [int(_server.post_message(env.channel, env.freelancer, {"content": f"m{n}"})["id"]) for n in range(count)]


async def test_a_page_after_an_id_is_the_messages_just_after_it_newest_first(discord_env):
    env = discord_env
    ids = fill(env, 10)
    page = await env.bot.http.logs_from(env.channel.id, 3, after=ids[2])
    assert [int(m["id"]) for m in page] == [ids[5], ids[4], ids[3]]
    page = await env.bot.http.logs_from(env.channel.id, 3, before=ids[2])
    assert [int(m["id"]) for m in page] == [ids[1], ids[0]]
    page = await env.bot.http.logs_from(env.channel.id, 500)
    assert len(page) == 10 and int(page[0]["id"]) == ids[-1]


async def test_oldest_first_history_pages_through_every_message_once(discord_env):
    env = discord_env
    ids = fill(env, 250)
    before = env.faults.count(routes.HISTORY)
    seen = [message.id async for message in env.channel.history(limit=None, oldest_first=True)]
    assert seen == ids
    assert env.faults.count(routes.HISTORY) - before == 3  # 100 + 100 + 50: a short page ends it


async def test_newest_first_history_pages_through_every_message_once(discord_env):
    env = discord_env
    ids = fill(env, 230)
    seen = [message.id async for message in env.channel.history(limit=None)]
    assert seen == list(reversed(ids))
