"""The outbox of Discord effects, as the services write it: inside the transaction of the change that
causes them, each under an idempotency key, so that a committed change has its effects once and a
rolled-back one has none. `bot.services.effects.EffectWorker` does them, in order per order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.repos import effects as repo
from bot.db.types import utcnow

LEASE = timedelta(minutes=5)  # how long a worker holds an effect: longer than any one takes, 429 waits included


# Kinds that take longer than LEASE: closing reads a ticket's whole history (2,000 messages are 20 pages, each
# possibly behind a rate limit) and downloads its attachments (up to 200 MB) before the channel goes.
LEASES: dict[str, timedelta] = {"ticket.close": timedelta(minutes=30)}


def lease_for(kind: str) -> timedelta:
    """How long a worker holds an effect of this kind."""
    return LEASES.get(kind, LEASE)


def held_until(now: datetime) -> datetime:
    """The lease of effects their writer does itself right after the commit (no worker takes them before)."""
    return now + LEASE


class Kind(StrEnum):
    OPEN_TICKET = "ticket.open"  # make (or adopt) the ticket's channel and its one summary message
    TELL_REQUESTER = "ticket.tell"  # tell someone who asked for this order's ticket how it went
    REFRESH_SUMMARY = "summary.refresh"  # rebuild the summary message from the state as it is now
    POST_LINE = "channel.line"  # a status line in the ticket (a flag pings the officer role)
    TELL_PARTY = "party.tell"  # tell one person their next step (DM; a mention in the ticket if DMs are closed)
    REMOVE_PARTY = "party.remove"  # tell a party their email changed, then take them out of the ticket's channel
    LOG_POST = "log.post"  # a notice to the officers in a server's log channel (not about a ticket's channel)
    TIMER_NOTICE = "timer.notice"  # what a fired timer says: a reminder or an escalation (`bot.services.timers`)
    CLOSE_TICKET = "ticket.close"  # save the transcript, record its digest, post it, tell the parties, end the channel


@dataclass(frozen=True, slots=True)
class Effect:
    """One effect to write: what to do (`kind`, `payload`) for which order, once (`key`)."""

    order_id: str
    kind: Kind
    key: str
    payload: dict[str, Any] = field(default_factory=dict)
    held_until: datetime | None = None  # the writer does it itself right after the commit (see `held_until`)


async def write(session: AsyncSession, effects: Sequence[Effect], *, ids: bool = False) -> list[int]:
    """Add `effects` to the outbox inside the caller's transaction (a key written before is skipped);
    returns the ids of the rows written (in a batch of events only with `ids`, see `repo.add`)."""
    now = utcnow()
    rows = [
        {
            "order_id": effect.order_id,
            "kind": effect.kind.value,
            "key": effect.key[:200],
            "payload": json.dumps(effect.payload, separators=(",", ":"), sort_keys=True),
            "status": "pending",
            "attempts": 0,
            "claimed_until": effect.held_until,
            "created_at": now,
        }
        for effect in effects
    ]
    return await repo.add(session=session, rows=rows, ids=ids)
