"""`/guarantee setup`, `officer`, `queue` and `status`: who may see and configure what."""

from __future__ import annotations

import logging
import time

from sqlalchemy import select, update

from bot.db.models import GuildConfig, Ticket
from tests.cogs.tickets.conftest import gig, open_ticket, ticket_channels


async def configs(env) -> list[GuildConfig]:
    async with env.bot.runtime.sessions() as session:
        return list((await session.scalars(select(GuildConfig))).all())


async def test_setup_by_a_non_admin_is_refused_and_stores_nothing(env):
    result = await env.driver.command(
        "guarantee setup", by=env.outsider, channel=env.channel, officer_role=env.officer_role
    )
    # names the missing permission, and what to do instead
    assert result.ephemeral and "Manage Server permission" in result.content and "Ask a server admin" in result.content
    assert await configs(env) == []


async def test_setup_by_an_admin_routes_new_tickets(env, deliver, sent):
    category = await env.guild.create_category("Escrow desk")
    role = await env.guild.create_role(name="Desk officers")
    await env.officer.add_roles(role)
    result = await env.driver.command(
        "guarantee setup", by=env.admin, channel=env.channel, officer_role=role, category=category,
        log_channel=env.channel,
    )  # fmt: skip
    assert result.ephemeral and "Saved" in result.content and role.mention in result.content
    (config,) = await configs(env)
    assert (config.officer_role_id, config.category_id, config.log_channel_id) == (role.id, category.id, env.channel.id)
    await deliver()
    await open_ticket(env)
    (channel,) = ticket_channels(env)
    assert channel.category == category
    (payload,) = [p for cid, p in sent if cid == channel.id]
    assert payload["allowed_mentions"]["roles"] == [role.id]
    assert channel.permissions_for(env.officer).view_channel


async def test_setup_refuses_everyone_as_the_officer_role(env):
    result = await env.driver.command(
        "guarantee setup", by=env.admin, channel=env.channel, officer_role=env.guild.default_role
    )
    assert result.ephemeral and "not @everyone" in result.content and await configs(env) == []


async def test_officer_check_answers_from_the_live_role(env):
    yes = await env.driver.command("guarantee officer", by=env.outsider, channel=env.channel, user=env.officer)
    no = await env.driver.command("guarantee officer", by=env.outsider, channel=env.channel, user=env.buyer)
    assert yes.ephemeral and "**is** a Guarantor Officer" in yes.content
    assert no.ephemeral and "is **NOT** a Guarantor Officer" in no.content
    await env.officer.remove_roles(env.officer_role)
    later = await env.driver.command("guarantee officer", by=env.outsider, channel=env.channel, user=env.officer)
    assert "is **NOT** a Guarantor Officer" in later.content


async def test_queue_is_for_officers_only(env, deliver):
    await deliver()
    await open_ticket(env)
    result = await env.driver.command("guarantee queue", by=env.outsider, channel=env.channel)
    assert result.ephemeral and "Only Guarantor Officers" in result.content and not result.embeds


async def open_orders(env, deliver, ids):
    """Deliver and open each order (through the service: `/guarantee open` has a per-user cooldown)."""
    for order_id in ids:
        await deliver(order_id=order_id)
        await env.bot.runtime.tickets.open(
            guild_id=env.guild.id, user_id=env.freelancer.id, channel_id=env.channel.id,
            email="seller@example.com", gig_link=gig(order_id),
        )  # fmt: skip


async def test_queue_lists_unclaimed_first_then_oldest_and_pages(env, deliver):
    ids = [f"ord_{n}" for n in range(12)]
    await open_orders(env, deliver, ids)
    async with env.bot.runtime.sessions.begin() as session:
        await session.execute(update(Ticket).where(Ticket.order_id == "ord_0").values(claimed_by=env.officer.id))
    first = await env.driver.command("guarantee queue", by=env.officer, channel=env.channel)
    assert first.ephemeral
    (embed,) = first.embeds
    assert [f.name.split(" · ")[0] for f in embed.fields] == ids[1:11]
    assert embed.footer.text.startswith("Page 1/2 · 12 ticket(s)")
    second = await env.driver.command("guarantee queue", by=env.officer, channel=env.channel, page=2)
    assert [f.name.split(" · ")[0] for f in second.embeds[0].fields] == ["ord_11", "ord_0"]
    assert "claimed by" in second.embeds[0].fields[-1].value


async def test_queue_filters_by_escrow_state(env, deliver):
    await open_orders(env, deliver, ["ord_a", "ord_b"])
    result = await env.driver.command("guarantee queue", by=env.officer, channel=env.channel, state="awaiting_funding")
    names = [f.name.split(" · ")[0] for f in result.embeds[0].fields]
    assert names == ["ord_a", "ord_b"]
    funded = await env.driver.command("guarantee queue", by=env.officer, channel=env.channel, state="funded")
    assert funded.embeds[0].fields == [] and "Nothing waiting" in funded.embeds[0].description


async def test_status_shows_the_parties_their_order_and_hides_it_from_others(env, deliver):
    await deliver()
    await open_ticket(env)
    mine = await env.driver.command("guarantee status", by=env.freelancer, channel=env.channel)
    assert mine.ephemeral and mine.embeds[0].title == "Order ord_1"
    assert "seller@example.com" not in str(mine.embeds[0].to_dict())
    officer = await env.driver.command("guarantee status", by=env.officer, channel=env.channel, order_id="ord_1")
    assert officer.embeds[0].title == "Order ord_1"
    other = await env.driver.command("guarantee status", by=env.outsider, channel=env.channel, order_id="ord_1")
    assert other.ephemeral and not other.embeds and "no order 'ord_1' that you are part of" in other.content


async def test_status_in_the_ticket_channel_needs_no_order_id(env, deliver):
    await deliver()
    await open_ticket(env)
    (channel,) = ticket_channels(env)
    result = await env.driver.command("guarantee status", by=env.officer, channel=channel)
    assert result.embeds[0].title == "Order ord_1"


async def test_autocomplete_offers_the_callers_own_orders(env, deliver):
    await open_orders(env, deliver, ["ord-1", "ord-2"])
    mine = await env.driver.autocomplete(
        "guarantee status", "order_id", by=env.freelancer, channel=env.channel, order_id="ord-1"
    )
    assert [c["value"] for c in mine.choices] == ["ord-1"]
    nothing = await env.driver.autocomplete(
        "guarantee status", "order_id", by=env.outsider, channel=env.channel, order_id=""
    )
    assert nothing.choices == []


async def test_an_unexpected_error_is_logged_and_answered_generically(env, monkeypatch, caplog):
    async def broken(*_args, **_kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(env.bot.get_cog("GuaranteeCog").queries, "status", broken)
    with caplog.at_level(logging.ERROR, logger="cogs.tree"):
        result = await env.driver.command("guarantee status", by=env.freelancer, channel=env.channel)
    assert result.ephemeral and "Something went wrong on my side" in result.content
    assert "database on fire" not in result.content
    assert any(r.exc_info and "database on fire" in str(r.exc_info[1]) for r in caplog.records)


async def test_cooldown_is_answered_plainly(env, deliver):
    await deliver()
    for _ in range(10):
        await open_ticket(env, email="wrong@example.com")
    result = await open_ticket(env, email="wrong@example.com")
    # when to try again, as a time Discord shows in the reader's own words ("in 54 seconds")
    assert result.ephemeral and "try again <t:" in result.content and result.content.endswith(":R>.")
    when = int(result.content.split("<t:")[1].split(":")[0])
    assert 0 < when - time.time() <= 61


async def test_status_history_lists_events_and_escrow_steps(env, deliver):
    await deliver()
    await open_ticket(env)
    (channel,) = ticket_channels(env)
    claimed = await env.driver.click(env.messages(channel)[0], "guarantee:claim:ord_1", by=env.officer)
    assert claimed.responded
    result = await env.driver.command("guarantee status", by=env.freelancer, channel=env.channel, order_id="ord_1")
    history = next(f.value for f in result.embeds[0].fields if f.name == "History")
    lines = history.splitlines()
    assert "Terms agreed on the marketplace" in lines[0]
    assert "Ticket claimed by" in lines[-1] and env.officer.mention in lines[-1] and "Guarantor Officer" in lines[-1]
    assert "order.agreed" not in history and "claim:" not in history and "awaiting_funding" not in history


def test_every_option_has_a_description_users_see(env):
    group = env.bot.tree.get_command("guarantee")
    names = sorted(command.name for command in group.commands)
    assert names == ["close", "join", "officer", "open", "queue", "setup", "status"]
    for command in group.commands:
        assert command.description and command.description != "…"
        for parameter in command.parameters:
            assert parameter.description and parameter.description != "…", (command.name, parameter.name)


async def test_every_command_acknowledges_at_once_and_privately(env, deliver):
    await deliver()
    runs = [
        ("guarantee open", {"email": "seller@example.com", "gig_link": gig()}),
        ("guarantee join", {"order_id": "ord_1", "email": "buyer@example.com"}),
        ("guarantee status", {}),
        ("guarantee queue", {}),
        ("guarantee officer", {"user": env.officer}),
        ("guarantee setup", {"officer_role": env.officer_role}),
        ("guarantee close", {"reason": "done"}),
    ]
    for name, options in runs:
        by = env.buyer if name.endswith("join") else env.admin if name.endswith("setup") else env.freelancer
        by = env.officer if name.endswith(("queue", "close")) else by
        result = await env.driver.command(name, by=by, channel=env.channel, options=options)
        assert result.deferred and result.ephemeral, name
