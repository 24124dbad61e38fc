"""Queries on pending ticket requests: `/guarantee open`s waiting for their order's agreement."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.db.models import RequestState, TicketRequest
from bot.db.repos import batch as batches


async def pending_for_gig(*, session: AsyncSession, gig_key: str, now: datetime) -> Sequence[TicketRequest]:
    batch = batches.of(session)
    if batch is not None and gig_key in batch.pending:  # read (after `lock_gig`) with the batch of events
        waiting, batch.pending[gig_key] = batch.pending[gig_key], []  # resolving answers each one
        return [request for request in waiting if request.expires_at > now]
    query = (
        select(TicketRequest)
        .where(
            col(TicketRequest.gig_key) == gig_key,
            col(TicketRequest.state) == RequestState.PENDING,
            col(TicketRequest.expires_at) > now,
        )
        .order_by(col(TicketRequest.created_at), col(TicketRequest.id))
    )
    return (await session.scalars(query)).all()


async def any_to_expire(*, session: AsyncSession, now: datetime) -> bool:
    """Whether some waiting request's time is up (a read: a sweep with nothing to do writes nothing)."""
    query = select(col(TicketRequest.id)).where(
        col(TicketRequest.state) == RequestState.PENDING, col(TicketRequest.expires_at) <= now
    )
    return (await session.scalars(query.limit(1))).first() is not None


async def expire(*, session: AsyncSession, now: datetime) -> list[tuple[int, int, int | None, int]]:
    """Mark the requests whose wait is over expired; returns (id, user_id, channel_id, guild_id) of each, only
    the ones this transaction expired (two processes sweeping at once each get their own)."""
    told = (TicketRequest.id, TicketRequest.user_id, TicketRequest.channel_id, TicketRequest.guild_id)
    result = await session.execute(
        update(TicketRequest)
        .where(col(TicketRequest.state) == RequestState.PENDING, col(TicketRequest.expires_at) <= now)
        .values(state=RequestState.EXPIRED.value, resolved_at=now)
        .returning(*(col(column) for column in told))
    )
    return [cast(tuple[int, int, int | None, int], tuple(row)) for row in result.all()]


async def unnotified(*, session: AsyncSession, order_id: str | None = None) -> Sequence[TicketRequest]:
    """Resolved requests whose requester has not been told yet (optionally for one order)."""
    query = select(TicketRequest).where(
        col(TicketRequest.state).in_(
            [RequestState.FULFILLED.value, RequestState.REJECTED.value, RequestState.TO_PROVE.value]
        ),
        col(TicketRequest.notified_at).is_(None),
    )
    if order_id is not None:
        query = query.where(col(TicketRequest.order_id) == order_id)
    return (await session.scalars(query.order_by(col(TicketRequest.id)))).all()


async def lock_gig(*, session: AsyncSession, gig_key: str) -> None:
    """Hold the gig until the transaction ends, so a request for it and the agreement for it take turns.

    PostgreSQL: a transaction-level advisory lock on the key's hash. SQLite runs one writer at a time;
    the caller's next write takes the database's write lock and its reads then see every commit before it.
    """
    batch = batches.of(session)
    if batch is not None and gig_key in batch.pending:  # the batch of events locked its gigs already
        return
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": gig_key})


async def keep_pending(
    *, session: AsyncSession, guild_id: int, channel_id: int | None, user_id: int, email: str, gig_key: str,
    now: datetime, expires_at: datetime,
) -> tuple[int, datetime]:  # fmt: skip
    """Insert the person's waiting request for this gig, or refresh the one they have (one per person and gig,
    `ux_ticket_requests_pending`, also when two arrive at once); returns its id and expiry."""
    values = {
        "guild_id": guild_id, "channel_id": channel_id, "user_id": user_id, "email": email, "gig_key": gig_key,
        "state": RequestState.PENDING.value, "created_at": now, "expires_at": expires_at,
    }  # fmt: skip
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(TicketRequest)
        .values(**values)
        .on_conflict_do_update(
            index_elements=["user_id", "gig_key"],
            index_where=text("state = 'pending'"),
            set_={"guild_id": guild_id, "channel_id": channel_id, "email": email, "expires_at": expires_at},
        )
        .returning(col(TicketRequest.id), col(TicketRequest.expires_at))
    )
    row = (await session.execute(statement)).one()
    return int(row[0]), row[1]
