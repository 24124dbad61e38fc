"""Queries on the outbox of Discord effects."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, exists, func, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from bot.db.models import DiscordEffect, EffectStatus
from bot.db.repos import batch as batches

# Every other effect of an order waits for its channel to be made.
FIRST_KIND = "ticket.open"
# ... and closing waits for every earlier effect of its order (its last lines belong in the transcript).
LAST_KIND = "ticket.close"


def _rowcount(result: object) -> int:
    return int(cast(CursorResult[Any], result).rowcount or 0)


async def add(*, session: AsyncSession, rows: Sequence[dict[str, Any]], ids: bool = False) -> list[int]:
    """Write effects inside the caller's transaction; a row whose `key` exists is skipped. Returns the new ids
    (in a batch of events, only when asked for with `ids`: the rows are then sent at once, after the batch's
    writes so far, instead of with its other writes)."""
    if not rows:
        return []
    batch = batches.of(session)
    if batch is not None and not ids:  # written with the batch's other writes; nobody waits for their ids
        batch.add_effects(rows)
        return []
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(DiscordEffect)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(col(DiscordEffect.id))
    )
    return [int(row[0]) for row in (await session.execute(statement)).all()]


async def due(*, session: AsyncSession, now: datetime, limit: int) -> Sequence[DiscordEffect]:
    """The effects to run now: pending, due, not held by a worker, and first in their order's line: no
    earlier pending effect of the same kind, or a channel still to be made, for the same order."""
    earlier = aliased(DiscordEffect)
    blocked = exists().where(
        col(earlier.order_id) == col(DiscordEffect.order_id),
        col(earlier.status) == EffectStatus.PENDING,
        col(earlier.id) < col(DiscordEffect.id),
        or_(
            col(earlier.kind) == col(DiscordEffect.kind),
            col(earlier.kind) == FIRST_KIND,
            col(DiscordEffect.kind) == LAST_KIND,
        ),
    )
    query = (
        select(DiscordEffect)
        .where(
            col(DiscordEffect.status) == EffectStatus.PENDING,
            or_(col(DiscordEffect.next_attempt_at).is_(None), col(DiscordEffect.next_attempt_at) <= now),
            or_(col(DiscordEffect.claimed_until).is_(None), col(DiscordEffect.claimed_until) < now),
            ~blocked,
        )
        .order_by(col(DiscordEffect.id))
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def claim(*, session: AsyncSession, effect_id: int, now: datetime, lease: timedelta) -> bool:
    """Hold a pending effect until `now + lease`; False when another worker holds it or it is finished."""
    statement = (
        update(DiscordEffect)
        .where(
            col(DiscordEffect.id) == effect_id,
            col(DiscordEffect.status) == EffectStatus.PENDING,
            or_(col(DiscordEffect.claimed_until).is_(None), col(DiscordEffect.claimed_until) < now),
        )
        .values(claimed_until=now + lease, attempts=col(DiscordEffect.attempts) + 1)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(await session.execute(statement)) == 1


async def finish(
    *, session: AsyncSession, effect_ids: Sequence[int], now: datetime, status: EffectStatus, note: str | None = None
) -> None:
    """Done (or dropped, with `note` saying why): the effects leave the queue."""
    statement = (
        update(DiscordEffect)
        .where(col(DiscordEffect.id).in_(effect_ids), col(DiscordEffect.status) == EffectStatus.PENDING)
        .values(status=status.value, done_at=now, claimed_until=None, last_error=note)
        .execution_options(synchronize_session=False)
    )
    await session.execute(statement)


async def retry(*, session: AsyncSession, effect_id: int, at: datetime, error: str) -> None:
    """Let go of an effect that failed for now; it is due again at `at`."""
    statement = (
        update(DiscordEffect)
        .where(col(DiscordEffect.id) == effect_id, col(DiscordEffect.status) == EffectStatus.PENDING)
        .values(next_attempt_at=at, claimed_until=None, last_error=error[:2000])
        .execution_options(synchronize_session=False)
    )
    await session.execute(statement)


async def release(*, session: AsyncSession, effect_ids: Sequence[int]) -> None:
    """Give up the hold on pending effects: the worker may take them now."""
    statement = (
        update(DiscordEffect)
        .where(col(DiscordEffect.id).in_(effect_ids), col(DiscordEffect.status) == EffectStatus.PENDING)
        .values(claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(statement)


async def waits_behind(*, session: AsyncSession, effect: DiscordEffect, besides: Sequence[int] = ()) -> bool:
    """Is an effect ahead of this one in its order's line (see `due`), other than `besides`, still pending?"""
    query = select(
        exists().where(
            col(DiscordEffect.order_id) == effect.order_id,
            col(DiscordEffect.status) == EffectStatus.PENDING,
            col(DiscordEffect.id) < (effect.id or 0),
            col(DiscordEffect.id).not_in(besides),
            true()
            if effect.kind == LAST_KIND
            else or_(col(DiscordEffect.kind) == effect.kind, col(DiscordEffect.kind) == FIRST_KIND),
        )
    )
    return bool(await session.scalar(query))


async def get(*, session: AsyncSession, effect_id: int) -> DiscordEffect | None:
    return await session.get(DiscordEffect, effect_id, populate_existing=True)


async def pending_for_order(*, session: AsyncSession, order_id: str, kind: str) -> Sequence[DiscordEffect]:
    query = (
        select(DiscordEffect)
        .where(
            col(DiscordEffect.order_id) == order_id,
            col(DiscordEffect.kind) == kind,
            col(DiscordEffect.status) == EffectStatus.PENDING,
        )
        .order_by(col(DiscordEffect.id))
    )
    return (await session.scalars(query)).all()


async def for_order(*, session: AsyncSession, order_id: str) -> Sequence[DiscordEffect]:
    query = select(DiscordEffect).where(col(DiscordEffect.order_id) == order_id).order_by(col(DiscordEffect.id))
    return (await session.scalars(query)).all()


async def counts(*, session: AsyncSession) -> dict[str, int]:
    """How many effects are in each status (for health and metrics)."""
    query = select(col(DiscordEffect.status), func.count()).group_by(col(DiscordEffect.status))
    return {str(status): int(n) for status, n in (await session.execute(query)).all()}
