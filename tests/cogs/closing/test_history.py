"""Reading a ticket channel's whole history through discord.py, in the fake Discord."""

from __future__ import annotations

import time

import discord

from cogs.closing._history import message_of, read_history, read_transcript
from tests.cogs.closing.conftest import stored_message
from tests.harness import _faults as routes
from tests.services.closing.world import closed_ticket

MESSAGES = 2_000


def fill(env, count: int) -> list[int]:
    people = (env.freelancer, env.buyer, env.guild.me)
    return [int(stored_message(env.channel, people[n % 3], f"message {n}")["id"]) for n in range(count)]


def record_pages(env, monkeypatch) -> list[tuple[int | None, int]]:
    """(after, messages returned) for every history request that got an answer."""
    pages: list[tuple[int | None, int]] = []
    http = env.bot.http
    original = http.logs_from

    async def logs_from(channel_id, limit, before=None, after=None, around=None):
        data = await original(channel_id, limit, before=before, after=after, around=around)
        pages.append((after, len(data)))
        return data

    monkeypatch.setattr(http, "logs_from", logs_from)
    return pages


async def test_a_2000_message_channel_is_read_oldest_first_100_a_request(env, monkeypatch) -> None:
    ids = fill(env, MESSAGES)
    pages = record_pages(env, monkeypatch)
    started = time.perf_counter()
    messages = await read_history(env.channel)
    elapsed = time.perf_counter() - started
    assert [m.id for m in messages] == ids
    assert [m.content for m in messages[:2]] == ["message 0", "message 1"]
    # 20 full pages of 100, each after the newest id of the page before; discord.py only knows the
    # channel is done when a page comes back short, so a 21st request answers with nothing.
    assert [size for _, size in pages] == [100] * 20 + [0]
    assert [after for after, _ in pages] == [0] + [ids[n * 100 + 99] for n in range(20)]
    assert env.faults.count(routes.HISTORY) == 21
    assert elapsed < 30  # about 0.1 s on the fake; the bound only catches a runaway loop


async def test_a_rate_limit_on_the_history_route_is_waited_out(env) -> None:
    ids = fill(env, 250)
    env.faults.fail(routes.HISTORY, 429, times=2, retry_after=0.05)
    started = time.perf_counter()
    messages = await read_history(env.channel)
    assert [m.id for m in messages] == ids
    assert env.faults.failures == [(routes.HISTORY, 429), (routes.HISTORY, 429)]
    assert env.faults.count(routes.HISTORY) == 3 + 2  # three pages (100, 100, 50) and the two refused tries
    assert time.perf_counter() - started >= 0.1


async def test_a_message_keeps_its_author_embeds_files_and_the_names_behind_its_mentions(env) -> None:
    other = env.guild.get_channel(env.ids["channel"])
    embed = discord.Embed(title="Order ord_1", description="Escrow: **funded**").set_footer(text="Officers never DM")
    embed.add_field(name="Amount", value="120.50 USD", inline=True)
    data = stored_message(
        env.channel,
        env.guild.me,
        f"**Funded** by <@{env.officer.id}> for <@&{env.officer_role.id}> in <#{other.id}>",
        mentions=[env.officer],
        role_ids=[env.officer_role.id],
        embeds=[embed],
        attachments=[
            {
                "id": 77,
                "filename": "receipt.pdf",
                "size": 2048,
                "url": "https://cdn.discordapp.com/a/77/receipt.pdf",
                "proxy_url": "",
                "content_type": "application/pdf",
            },
        ],
    )
    message = message_of(discord.Message(state=env.bot._connection, channel=env.channel, data=data))
    assert (message.author_id, message.author_name, message.is_bot) == (
        env.guild.me.id,
        env.guild.me.display_name,
        True,
    )
    assert message.mentions.users == {env.officer.id: env.officer.display_name}
    assert message.mentions.roles == {env.officer_role.id: env.officer_role.name}
    assert message.mentions.channels == {other.id: other.name}
    assert [(e.title, e.description, e.footer) for e in message.embeds] == [
        ("Order ord_1", "Escrow: **funded**", "Officers never DM")
    ]
    assert [(f.name, f.value, f.inline) for f in message.embeds[0].fields] == [("Amount", "120.50 USD", True)]
    [file] = message.attachments
    assert (file.id, file.filename, file.size, file.content_type) == (77, "receipt.pdf", 2048, "application/pdf")
    assert file.url.startswith("https://cdn.discordapp.com/") and file.saved_as is None


async def test_read_transcript_heads_the_history_with_the_order_and_names_its_people(env, sessions) -> None:
    gone = 4242  # a buyer who left the server: Discord answers 404 and the id stays as the name
    await closed_ticket(sessions, "ord_t", people=(env.freelancer.id, gone, env.officer.id))
    stored_message(env.channel, env.freelancer, "here is the logo")
    transcript = await read_transcript(env.channel, sessions=sessions, order_id="ord_t", known={env.buyer.id: "Bo"})
    header = transcript.header
    assert (header.order_id, header.escrow_state, header.terms.currency) == ("ord_t", "refunded", "USD")
    assert [m.content for m in transcript.messages] == ["here is the logo"]
    assert header.freelancer.name == env.freelancer.display_name  # from the messages
    assert header.officer is not None and header.officer.name == env.officer.display_name  # from the server
    assert header.buyer is not None and header.buyer.name == f"user {gone}"
    assert [line.action for line in header.audit] == ["fund", "deliver", "refund"]
