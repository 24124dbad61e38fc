"""Queries on tickets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.db.core import rowcount, table_of
from bot.db.models import Escrow, Order, Ticket, TicketState
from bot.db.repos import batch as batches
from bot.db.types import utcnow

_ORDER = col(Order.id) == col(Ticket.order_id)  # a ticket's order, as a join condition
_ESCROW = col(Escrow.order_id) == col(Ticket.order_id)  # a ticket's escrow, as a join condition


async def for_order(*, session: AsyncSession, order_id: str, fresh: bool = False) -> Ticket | None:
    batch = batches.of(session)
    if batch is not None and order_id in batch.tickets:  # read with the batch of events this session applies
        return batch.tickets[order_id]
    query = select(Ticket).where(col(Ticket.order_id) == order_id)
    if fresh:  # what the database holds now, not what this session read before
        query = query.execution_options(populate_existing=True)
    return (await session.scalars(query)).first()


async def for_channel(*, session: AsyncSession, channel_id: int) -> Ticket | None:
    return (await session.scalars(select(Ticket).where(col(Ticket.channel_id) == channel_id))).first()


async def in_state(*, session: AsyncSession, state: TicketState) -> Sequence[Ticket]:
    query = select(Ticket).where(col(Ticket.state) == state).order_by(col(Ticket.created_at))
    return (await session.scalars(query)).all()


async def listing(*, session: AsyncSession, state: TicketState | None = None) -> Sequence[tuple[Ticket, Order]]:
    query = select(Ticket, Order).join(Order, _ORDER).order_by(col(Ticket.created_at))
    if state is not None:
        query = query.where(col(Ticket.state) == state)
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


async def for_user(*, session: AsyncSession, user_id: int, limit: int) -> Sequence[tuple[Ticket, Order]]:
    """The user's tickets as freelancer or buyer, newest first."""
    query = (
        select(Ticket, Order)
        .join(Order, _ORDER)
        .where(or_(col(Ticket.freelancer_id) == user_id, col(Ticket.buyer_id) == user_id))
        .order_by(col(Ticket.created_at).desc())
        .limit(limit)
    )
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


def _in_queue(guild_id: int, states: Sequence[TicketState]) -> ColumnElement[bool]:
    return and_(col(Ticket.guild_id) == guild_id, col(Ticket.state).in_([s.value for s in states]))


async def queue_size(
    *, session: AsyncSession, guild_id: int, states: Sequence[TicketState], escrow_state: str | None = None
) -> int:
    """How many of a guild's tickets are in these states (and, if given, whose escrow is in `escrow_state`)."""
    query = select(func.count()).select_from(Ticket).where(_in_queue(guild_id, states))
    if escrow_state is not None:
        query = query.join(Escrow, _ESCROW).where(col(Escrow.state) == escrow_state)
    return int(await session.scalar(query) or 0)


async def queue(
    *,
    session: AsyncSession,
    guild_id: int,
    states: Sequence[TicketState],
    limit: int,
    offset: int = 0,
    escrow_state: str | None = None,
) -> Sequence[tuple[Ticket, Order]]:
    """A page of a guild's tickets: unclaimed first, then oldest first (ties by id); with `escrow_state`,
    only tickets whose escrow is in that state.

    The page's ticket ids are picked from `tickets` alone, then joined to their orders: only the page's
    orders are read, not every queued one before the sort. The states are rendered as literals, in
    `TicketState` order, so that for the live states the query names the predicate of the partial index
    `ix_tickets_live_queue` and reads the page in index order (SQLite ignores a partial index for a
    bound parameter; PostgreSQL cannot prove one for a generic plan)."""
    order = (col(Ticket.claimed_by).is_not(None), col(Ticket.created_at), col(Ticket.id))
    values = [s.value for s in TicketState if s in states]
    ids = select(col(Ticket.id)).where(
        col(Ticket.guild_id) == guild_id,
        col(Ticket.state).in_(bindparam("queue_states", values, expanding=True, literal_execute=True)),
    )
    if escrow_state is not None:
        ids = ids.join(Escrow, _ESCROW).where(col(Escrow.state) == escrow_state)
    page = ids.order_by(*order).limit(limit).offset(offset).subquery()
    query = select(Ticket, Order).join(page, page.c.id == col(Ticket.id)).join(Order, _ORDER).order_by(*order)
    rows = (await session.execute(query)).all()
    return [(row[0], row[1]) for row in rows]


async def set_state(
    *, session: AsyncSession, ticket_id: int, expected: TicketState, new: TicketState, **values: object
) -> bool:
    """Compare-and-set on the ticket's state; False when someone else moved it first."""
    result = await session.execute(
        update(Ticket)
        .where(col(Ticket.id) == ticket_id, col(Ticket.state) == expected)
        .values(state=new.value, updated_at=utcnow(), **values)
    )
    return bool(rowcount(result))


_TICKETS = table_of(Ticket)
# `opening` → `open` with the channel, built once (the last write of every `/guarantee open`); a
# Core statement on the table, so the session has no ORM objects to synchronise.
_MARK_OPEN = (
    update(_TICKETS)
    .where(_TICKETS.c.id == bindparam("ticket"), _TICKETS.c.state == TicketState.OPENING.value)
    .values(
        state=TicketState.OPEN.value,
        channel_id=bindparam("channel"),
        summary_message_id=bindparam("summary"),
        opened_at=bindparam("at"),
        updated_at=bindparam("at"),
    )
)


async def mark_open(
    *, session: AsyncSession, ticket_id: int, channel_id: int, summary_message_id: int, at: datetime
) -> bool:
    """Compare-and-set `opening` → `open` with the ticket's channel; False when someone else moved it first."""
    params = {"ticket": ticket_id, "channel": channel_id, "summary": summary_message_id, "at": at}
    result = await session.execute(_MARK_OPEN, params)
    return bool(rowcount(result))


async def claim_buyer(
    *, session: AsyncSession, ticket_id: int, user_id: int | None, expected: int | None, proven: bool = False
) -> bool:
    """Seat `user_id` as the buyer (`proven`: with an emailed code) if the seat holds `expected`."""
    buyer = col(Ticket.buyer_id).is_(None) if expected is None else col(Ticket.buyer_id) == expected
    values = {"buyer_id": user_id, "buyer_proven": proven and user_id is not None, "updated_at": utcnow()}
    result = await session.execute(update(Ticket).where(col(Ticket.id) == ticket_id, buyer).values(**values))
    return bool(rowcount(result))


async def delete_opening(*, session: AsyncSession, ticket_id: int) -> bool:
    """Delete the ticket if it is still `opening` (its channel was never made); False when it moved on."""
    result = await session.execute(
        delete(Ticket).where(col(Ticket.id) == ticket_id, col(Ticket.state) == TicketState.OPENING)
    )
    return bool(rowcount(result))


async def set_claim(*, session: AsyncSession, order_id: str, officer_id: int) -> None:
    """The officer who claimed the order, on its ticket (if it has one)."""
    statement = (
        update(Ticket)
        .where(col(Ticket.order_id) == order_id)
        .values(claimed_by=officer_id, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await session.execute(statement)


async def card(*, session: AsyncSession, ticket_id: int) -> tuple[Ticket, Order, str | None, bool] | None:
    """The ticket, its order, its escrow state (None without an escrow row) and whether the buyer approved the
    work, in one query."""
    query = (
        select(Ticket, Order, col(Escrow.state), col(Escrow.approved_at))
        .join(Order, _ORDER)
        .outerjoin(Escrow, _ESCROW)
        .where(col(Ticket.id) == ticket_id)
    )
    row = (await session.execute(query)).first()
    return None if row is None else (row[0], row[1], row[2], row[3] is not None)


async def unseat(*, session: AsyncSession, ticket_id: int, buyer: bool, freelancer: bool) -> None:
    """A party's email changed: the buyer's seat is emptied, the freelancer's marked unverified (until someone
    proves the new email with `/guarantee open`)."""
    values: dict[str, object] = {"updated_at": utcnow()}
    if buyer:
        values |= {"buyer_id": None, "buyer_proven": False}
    if freelancer:
        values |= {"freelancer_unverified": True, "freelancer_proven": False}
    statement = update(Ticket).where(col(Ticket.id) == ticket_id).values(**values)
    # "evaluate": the session's copy changes too (a batch of events holds it: its later events see the empty seat)
    await session.execute(statement.execution_options(synchronize_session="evaluate"))


async def reseat_freelancer(*, session: AsyncSession, ticket_id: int, user_id: int, proven: bool) -> bool:
    """Seat whoever proved the order's new seller email as its freelancer, if the seat is still unverified."""
    statement = (
        update(Ticket)
        .where(col(Ticket.id) == ticket_id, col(Ticket.freelancer_unverified))
        .values(freelancer_id=user_id, freelancer_unverified=False, freelancer_proven=proven, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(rowcount(await session.execute(statement)))


async def unseat_freelancer(*, session: AsyncSession, ticket_id: int, user_id: int, back: int) -> bool:
    """Undo `reseat_freelancer` (Discord refused to add them): the seat is unverified again, as it was."""
    statement = (
        update(Ticket)
        .where(col(Ticket.id) == ticket_id, col(Ticket.freelancer_id) == user_id)
        .values(freelancer_id=back, freelancer_unverified=True, freelancer_proven=False, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(rowcount(await session.execute(statement)))
