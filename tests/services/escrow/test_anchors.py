"""The daily anchor job as a service: one `log.post` per log channel a day, however many processes run it at
once (each with its own engine, as `guarantor run` processes have)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models import DiscordEffect, GuildConfig
from bot.services.escrow.anchors import DailyAnchors, anchor_key
from bot.services.escrow.rules import Action, Role
from tests.services.escrow.escrow_support import OFFICER, Sessions, make_world

DAY = datetime(2026, 12, 1, 8, tzinfo=UTC)


async def anchor_effects(sessions: Sessions) -> list[DiscordEffect]:
    async with sessions() as session:
        query = select(DiscordEffect).where(DiscordEffect.kind == "log.post").order_by(DiscordEffect.id)  # type: ignore[arg-type]
        return list((await session.scalars(query)).all())


async def test_processes_running_the_job_at_once_write_one_line_per_log_channel_a_day(
    sessions: Sessions, database_url: str
) -> None:
    world = make_world(sessions)
    await world.order("ord_1")
    await world.escrow.act("ord_1", Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="PAY")
    async with sessions.begin() as session:
        session.add(GuildConfig(guild_id=11, log_channel_id=111))
        session.add(GuildConfig(guild_id=22, log_channel_id=222))
        session.add(GuildConfig(guild_id=33))  # no log channel: no line
    engines = [create_engine(database_url) for _ in range(4)]
    woken: list[int] = []
    try:
        jobs = [
            DailyAnchors(create_sessionmaker(engine), clock=lambda: DAY, on_written=lambda: woken.append(1))
            for engine in engines
        ]
        await asyncio.gather(*(job.work() for job in jobs))
        await asyncio.gather(*(job.work() for job in jobs))
        rows = await anchor_effects(sessions)
        assert sorted(row.key for row in rows) == [anchor_key(11, "2026-12-01"), anchor_key(22, "2026-12-01")]
        payloads = [json.loads(row.payload) for row in rows]
        assert {(p["guild_id"], p["channel_id"], p["ping"]) for p in payloads} == {(11, 111, False), (22, 222, False)}
        assert all("entry #1," in p["text"] for p in payloads) and woken
        jobs[0].clock = lambda: DAY + timedelta(days=1)
        await jobs[0].work()
        assert len(await anchor_effects(sessions)) == 4
    finally:
        for engine in engines:
            await engine.dispose()
