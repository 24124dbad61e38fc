"""Anchors of the audit chain outside the database (PRODUCT.md §7): once a day, a line in each server's log
channel states the chain's head (seq, hash), so a rewrite of the chain, even with every hash recomputed,
shows against it (`guarantor audit verify --anchor SEQ:HASH`).

The daily line is a `log.post` effect per log channel, written under the key `audit.anchor:<server>:<date>`:
however many processes run the job and however often they restart, each server gets one line a day. The job
runs in every process that works events (`DailyAnchors`, a polling worker); its clock is replaceable for tests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.repos import audit as audit_repo
from bot.db.repos import guilds as guild_repo
from bot.db.types import utcnow
from bot.services import outbox
from bot.services.outbox import Effect, Kind
from bot.services.worker import PollingWorker

log = logging.getLogger(__name__)

POLL_SECONDS = 600.0  # a new day is noticed within ten minutes
ANCHOR_LINE = (
    "📌 Audit record for {day}: the record of every escrow action ends at entry #{seq}, fingerprint `{hash}`. "
    "Nothing to do: this line lets anyone check later that no entry was changed or removed "
    "(`guarantor audit verify --anchor {seq}:{hash}`)."
)


def anchor_key(guild_id: int, day: str) -> str:
    return f"audit.anchor:{guild_id}:{day}"


async def write_daily(session: AsyncSession, *, now: datetime, official_guild_ids: Collection[int] = ()) -> list[int]:
    """Inside the caller's transaction: today's anchor line for every server with a log channel (only the
    official ones, when they are listed), unless written already today, or the chain is still empty. Returns the
    ids of the rows written."""
    day = now.date().isoformat()
    head = await audit_repo.head(session=session)
    if head is None or head.seq == 0:
        return []  # an empty chain: nothing to anchor yet
    seq, digest = head.seq, head.hash
    effects = [
        Effect(
            f"audit.anchor:{config.guild_id}",  # its own line in the outbox: never behind a ticket's effects
            Kind.LOG_POST,
            anchor_key(config.guild_id, day),
            {
                "guild_id": config.guild_id,
                "channel_id": config.log_channel_id,
                "officer_role_id": None,
                "ping": False,  # a record, not a call to act
                "text": ANCHOR_LINE.format(day=day, seq=seq, hash=digest),
            },
        )
        for config in await guild_repo.with_log_channel(session=session)
        if not official_guild_ids or config.guild_id in official_guild_ids
    ]
    return await outbox.write(session, effects)


class DailyAnchors(PollingWorker):
    """Writes the day's anchor lines (a pass after a restart writes nothing new: the keys are taken)."""

    name = "guarantor-anchors"

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        official_guild_ids: Collection[int] = (),
        on_written: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = utcnow,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        super().__init__(poll_seconds=poll_seconds)
        self._sessions = sessions
        self.official_guild_ids = frozenset(official_guild_ids)
        self._on_written = on_written  # wakes the effect worker
        self.clock = clock

    async def work(self) -> int:
        async with self._sessions.begin() as session:
            written = await write_daily(session, now=self.clock(), official_guild_ids=self.official_guild_ids)
        if written:
            log.info("audit anchor lines written for %d log channels", len(written))
            self._on_written()
        return 0  # one pass a poll: the next day comes by the clock, not by more work
