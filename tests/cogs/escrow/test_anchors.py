"""The audit chain's daily anchor (PRODUCT.md §7): once a day, each log channel gets a line stating the chain's
head (seq and hash), which `guarantor audit verify --anchor SEQ:HASH` checks later; a second pass the same day,
or a restarted bot, posts nothing more. Days pass on the anchor job's clock."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from bot.db.models import GuildConfig
from bot.db.repos import audit as audit_repo
from bot.services.escrow import audit
from tests.cogs.test_walk import INTERNAL
from tests.harness._tickets import TicketView
from tests.harness._world import DiscordEnv

ANCHOR = re.compile(r"ends at entry #(\d+), fingerprint `([0-9a-f]{64})`.*--anchor (\d+):([0-9a-f]{64})")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def log_channels(env: DiscordEnv):
    """A log channel chosen with `/guarantee setup` in the main server, and one in the other server."""
    log = await env.guild.create_text_channel("guarantor-log")
    await env.driver.command(
        "guarantee setup", by=env.admin, channel=env.channel, officer_role=env.officer_role, log_channel=log
    )
    async with env.bot.runtime.sessions.begin() as session:  # type: ignore[attr-defined]
        session.add(GuildConfig(guild_id=env.other_guild.id, log_channel_id=env.other_channel.id))
    return log, env.other_channel


async def pass_day(env: DiscordEnv, clock: Clock) -> None:
    """The anchor job's pass at `clock`'s time, then what the effect worker does with it."""
    runtime = env.bot.runtime  # type: ignore[attr-defined]
    runtime.anchors.clock = clock
    await runtime.anchors.work()
    await env.work_effects()


def anchor_lines(env: DiscordEnv, channel) -> list[str]:
    return [m["content"] for m in env.messages(channel) if "--anchor" in m["content"]]


async def head(env: DiscordEnv) -> tuple[int, str]:
    async with env.bot.runtime.sessions() as session:  # type: ignore[attr-defined]
        row = await audit_repo.head(session=session)
    assert row is not None
    return row.seq, row.hash


async def test_each_log_channel_gets_one_line_a_day_stating_the_chain_head(ticket: TicketView) -> None:
    env = ticket.env
    log, other_log = await log_channels(env)
    await ticket.click_and_write("fund", env.officer, "PAY-1")
    clock = Clock(datetime(2026, 12, 1, 0, 5, tzinfo=UTC))
    await pass_day(env, clock)
    seq, digest = await head(env)
    assert seq == 1
    for channel in (log, other_log):
        (line,) = anchor_lines(env, channel)
        assert "Audit record for 2026-12-01" in line
        found = ANCHOR.search(line)
        assert found is not None and found.groups() == (str(seq), digest, str(seq), digest), line
        assert not line.startswith("<@&")  # a record, not a ping
    (message,) = [m for m in env.messages(log) if "--anchor" in m["content"]]
    assert message["mentions"] == [] and message["mention_roles"] == []
    plain = re.sub(r"`[^`]*`", "", line)
    assert [what for what, pattern in INTERNAL.items() if re.search(pattern, plain)] == []

    # Later the same day, and after a restart: nothing more.
    clock.now += timedelta(hours=23)
    await pass_day(env, clock)
    await env.restart()
    await pass_day(env, clock)
    assert len(anchor_lines(env, log)) == len(anchor_lines(env, other_log)) == 1

    # The next day states the new head; the day's line is an anchor `verify` accepts.
    ticket = await env.ticket()
    await ticket.click("deliver", env.freelancer)
    clock.now += timedelta(hours=1)
    await pass_day(env, clock)
    lines = anchor_lines(env, log)
    assert len(lines) == 2 and "Audit record for 2026-12-02" in lines[1]
    anchor = audit.Anchor.parse(f"{ANCHOR.search(lines[1])[3]}:{ANCHOR.search(lines[1])[4]}")  # type: ignore[index]
    assert (anchor.seq, anchor.hash) == await head(env) and anchor.seq == 2
    async with env.bot.runtime.sessions() as session:  # type: ignore[attr-defined]
        assert (await audit.verify(session=session, anchor=anchor)).ok


async def test_only_official_servers_get_the_line_and_an_empty_chain_none(ticket: TicketView) -> None:
    env = ticket.env
    log, other_log = await log_channels(env)
    runtime = env.bot.runtime  # type: ignore[attr-defined]
    runtime.anchors.official_guild_ids = frozenset({env.guild.id})
    clock = Clock(datetime(2026, 12, 1, 12, tzinfo=UTC))
    await pass_day(env, clock)
    assert anchor_lines(env, log) == []  # nothing happened yet: nothing to anchor
    await ticket.click_and_write("fund", env.officer, "PAY-1")
    await pass_day(env, clock)
    assert len(anchor_lines(env, log)) == 1 and anchor_lines(env, other_log) == []
    (line,) = anchor_lines(env, log)
    assert "entry #1, fingerprint" in line
