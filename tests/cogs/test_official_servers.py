"""Official servers only (PRODUCT.md §7): elsewhere every command, button and form is refused with the
reason, nothing is stored, and the bot leaves servers that are not listed."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.db.models import AuditEntry, DiscordEffect, Ticket, TicketRequest
from cogs.escrow import controls_for
from cogs.official import REFUSAL
from tests.harness import _faults as routes
from tests.harness._world import DiscordEnv

GIG = "https://opentaskai.com/gigs/ord_1-logo"


@pytest.fixture
def env(discord_env: DiscordEnv) -> DiscordEnv:
    """The main guild is the only official server; the other guild (the stranger's) is not."""
    discord_env.bot.settings.official_guild_ids = [discord_env.guild.id]  # type: ignore[attr-defined]
    return discord_env


async def rows(env: DiscordEnv) -> dict[str, int]:
    async with env.bot.runtime.sessions() as session:  # type: ignore[attr-defined]
        return {
            model.__tablename__: int(await session.scalar(select(func.count()).select_from(model)) or 0)  # type: ignore[attr-defined]
            for model in (Ticket, TicketRequest, DiscordEffect, AuditEntry)
        }


async def test_open_and_join_elsewhere_are_refused_and_store_nothing(env):
    await env.agree_order()
    before = await rows(env)
    opened = await env.driver.command(
        "guarantee open", by=env.stranger, channel=env.other_channel, email="seller@example.com", gig_link=GIG
    )
    assert opened.ephemeral and opened.content == REFUSAL
    early = await env.driver.command(
        "guarantee open", by=env.stranger, channel=env.other_channel, email="x@example.com",
        gig_link="https://opentaskai.com/gigs/not-agreed-yet",
    )  # fmt: skip
    assert early.content == REFUSAL
    joined = await env.driver.command(
        "guarantee join", by=env.stranger, channel=env.other_channel, order_id="ord_1", email="buyer@example.com"
    )
    assert joined.ephemeral and joined.content == REFUSAL
    assert await rows(env) == before
    assert [c for c in env.other_guild.text_channels if c.name.startswith("guarantee-")] == []


async def test_every_command_and_autocomplete_is_refused_elsewhere(ticket):
    env = ticket.env
    env.bot.settings.official_guild_ids = [env.guild.id]
    for name, options in [("guarantee status", {"order_id": "ord_1"}), ("guarantee queue", {}),
                          ("guarantee officer", {"user": env.stranger})]:  # fmt: skip
        result = await env.driver.command(name, by=env.stranger, channel=env.other_channel, **options)
        assert (result.ephemeral, result.content, result.embeds) == (True, REFUSAL, []), name
    choices = await env.driver.autocomplete(
        "guarantee status", "order_id", by=env.stranger, channel=env.other_channel, order_id="ord"
    )
    assert choices.choices == []


async def test_a_button_elsewhere_is_refused_and_changes_nothing(ticket):
    env = ticket.env
    env.bot.settings.official_guild_ids = [env.guild.id]
    # A ticket's controls in a server that is not official (e.g. one made before it was delisted).
    message = await env.other_channel.send("order ord_1", view=controls_for("ord_1", "awaiting_funding"))
    before = await rows(env)
    for action in ("fund", "cancel", "claim"):
        result = await env.driver.click(message, f"guarantee:{action}:ord_1", by=env.stranger)
        assert result.ephemeral and result.content == REFUSAL and result.modal is None
    assert await rows(env) == before and await ticket.escrow_state() == "awaiting_funding"


async def test_a_form_submitted_after_the_server_was_delisted_is_refused(ticket):
    env = ticket.env
    shown = await ticket.click("fund", env.officer)
    assert shown.modal is not None
    env.bot.settings.official_guild_ids = [env.other_guild.id]
    before = await rows(env)
    done = await env.driver.submit_modal(shown, {"note": "PAY-1"}, by=env.officer)
    assert done.ephemeral and done.content == REFUSAL
    assert await rows(env) == before and await ticket.escrow_state() == "awaiting_funding"


async def test_the_official_server_works_as_before(env):
    await env.agree_order()
    opened = await env.driver.command(
        "guarantee open", by=env.freelancer, channel=env.channel, email="seller@example.com", gig_link=GIG
    )
    assert "is open" in opened.content


async def test_the_bot_leaves_a_server_it_is_added_to_that_is_not_listed(env):
    rogue = env.add_guild("Rogue")
    await env.driver.settle()
    assert env.bot.get_guild(rogue.id) is None and env.people.left_guilds == [rogue.id]
    assert env.bot.get_guild(env.guild.id) is not None


async def test_at_start_the_bot_leaves_every_server_not_listed(env):
    env.bot.dispatch("ready")
    await env.driver.settle()
    assert env.people.left_guilds == [env.ids["other_guild"]]
    assert [g.id for g in env.bot.guilds] == [env.guild.id]


async def test_a_failed_leave_is_logged_and_tried_again_at_the_next_start(env, caplog):
    env.faults.fail(routes.LEAVE_GUILD, 500, times=10)
    env.bot.dispatch("ready")
    await env.driver.settle()
    assert env.bot.get_guild(env.ids["other_guild"]) is not None and "could not leave server" in caplog.text
    env.faults.clear()
    env.bot.dispatch("ready")
    await env.driver.settle()
    assert env.people.left_guilds == [env.ids["other_guild"]]


async def test_without_official_servers_set_every_server_may_be_used(discord_env):
    env = discord_env
    assert env.bot.settings.official_guild_ids == []
    result = await env.driver.command(
        "guarantee officer", by=env.stranger, channel=env.other_channel, user=env.stranger
    )
    assert result.content != REFUSAL and "Guarantor Officer" in result.content
    env.add_guild("Another")
    await env.driver.settle()
    assert env.people.left_guilds == []
