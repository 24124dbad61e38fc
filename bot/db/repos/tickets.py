"""Queries on tickets, pending ticket requests and guild settings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, bindparam, column, func, or_, select, table, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.db.models import GuildConfig, Order, RequestState, Ticket, TicketRequest, TicketState
from bot.db.models.orders import SELLER_EMAIL_KEY
from bot.db.types import UTCDateTime, utcnow


async def for_order(*, session: AsyncSession, order_id: str) -> Ticket | None:
    return (await session.scalars(select(Ticket).where(Ticket.order_id == order_id))).first()  # type: ignore[arg-type]


async def for_channel(*, session: AsyncSession, channel_id: int) -> Ticket | None:
    return (await session.scalars(select(Ticket).where(Ticket.channel_id == channel_id))).first()  # type: ignore[arg-type]


async def in_state(*, session: AsyncSession, state: TicketState) -> Sequence[Ticket]:
    query = select(Ticket).where(Ticket.state == state).order_by(Ticket.created_at)  # type: ignore[arg-type]
    return (await session.scalars(query)).all()


async def listing(*, session: AsyncSession, state: TicketState | None = None) -> Sequence[tuple[Ticket, Order]]:
    query = select(Ticket, Order).join(Order, Order.id == Ticket.order_id).order_by(Ticket.created_at)  # type: ignore[arg-type]
    if state is not None:
        query = query.where(Ticket.state == state)  # type: ignore[arg-type]
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


async def for_user(*, session: AsyncSession, user_id: int, limit: int) -> Sequence[tuple[Ticket, Order]]:
    """The user's tickets as freelancer or buyer, newest first."""
    query = (
        select(Ticket, Order)
        .join(Order, Order.id == Ticket.order_id)  # type: ignore[arg-type]
        .where(or_(Ticket.freelancer_id == user_id, Ticket.buyer_id == user_id))  # type: ignore[arg-type]
        .order_by(Ticket.created_at.desc())  # type: ignore[attr-defined]
        .limit(limit)
    )
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


_ESCROWS = table("escrows", column("order_id"), column("state"))


def _in_queue(guild_id: int, states: Sequence[TicketState]) -> ColumnElement[bool]:
    return and_(Ticket.guild_id == guild_id, Ticket.state.in_([s.value for s in states]))  # type: ignore[arg-type,attr-defined]


async def queue_size(
    *, session: AsyncSession, guild_id: int, states: Sequence[TicketState], escrow_state: str | None = None
) -> int:
    """How many of a guild's tickets are in these states (and, if given, whose escrow is in `escrow_state`)."""
    query = select(func.count()).select_from(Ticket).where(_in_queue(guild_id, states))
    if escrow_state is not None:
        query = query.join(_ESCROWS, _ESCROWS.c.order_id == Ticket.order_id).where(_ESCROWS.c.state == escrow_state)
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
        ids = ids.join(_ESCROWS, _ESCROWS.c.order_id == Ticket.order_id).where(_ESCROWS.c.state == escrow_state)
    page = ids.order_by(*order).limit(limit).offset(offset).subquery()
    query = (
        select(Ticket, Order)
        .join(page, page.c.id == Ticket.id)
        .join(Order, Order.id == Ticket.order_id)  # type: ignore[arg-type]
        .order_by(*order)
    )
    rows = (await session.execute(query)).all()
    return [(row[0], row[1]) for row in rows]


async def set_state(
    *, session: AsyncSession, ticket_id: int, expected: TicketState, new: TicketState, **values: object
) -> bool:
    """Compare-and-set on the ticket's state; False when someone else moved it first."""
    result = await session.execute(
        update(Ticket)
        .where(Ticket.id == ticket_id, Ticket.state == expected)  # type: ignore[arg-type]
        .values(state=new.value, updated_at=utcnow(), **values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


_TICKETS = Ticket.__table__  # type: ignore[attr-defined]
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
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def claim_buyer(*, session: AsyncSession, ticket_id: int, user_id: int | None, expected: int | None) -> bool:
    buyer = Ticket.buyer_id.is_(None) if expected is None else Ticket.buyer_id == expected  # type: ignore[union-attr]
    result = await session.execute(
        update(Ticket).where(Ticket.id == ticket_id, buyer).values(buyer_id=user_id, updated_at=utcnow())  # type: ignore[arg-type]
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def escrow_history(*, session: AsyncSession, order_id: str) -> list[tuple[str, datetime]]:
    """The order's escrow steps (from the escrow feature's audit log), oldest first."""
    query = text(
        "SELECT action, from_state, to_state, created_at FROM audit_entries WHERE order_id = :id ORDER BY seq"
    ).columns(created_at=UTCDateTime)
    rows = (await session.execute(query, {"id": order_id})).all()
    return [(f"escrow {row[0]}: {row[1]} → {row[2]}", row[3]) for row in rows]


# The escrow feature's table, as far as a ticket reads it (its state, shown on the ticket's card).


async def card(*, session: AsyncSession, ticket_id: int) -> tuple[Ticket, Order, str | None] | None:
    """The ticket, its order and its escrow state (None without an escrow row), in one query."""
    query = (
        select(Ticket, Order, _ESCROWS.c.state)
        .join(Order, Order.id == Ticket.order_id)  # type: ignore[arg-type]
        .outerjoin(_ESCROWS, _ESCROWS.c.order_id == Ticket.order_id)
        .where(Ticket.id == ticket_id)  # type: ignore[arg-type]
    )
    row = (await session.execute(query)).first()
    return None if row is None else (row[0], row[1], row[2])


async def escrow_states(*, session: AsyncSession, order_ids: Sequence[str]) -> dict[str, str]:
    """The escrow state per order, read from the escrow feature's table."""
    if not order_ids:
        return {}
    query = text("SELECT order_id, state FROM escrows WHERE order_id IN :ids").bindparams(
        bindparam("ids", expanding=True)
    )
    rows = (await session.execute(query, {"ids": list(order_ids)})).all()
    return {str(row[0]): str(row[1]) for row in rows}


# ---- pending requests --------------------------------------------------------------------------


async def pending_for_gig(*, session: AsyncSession, gig_key: str, now: datetime) -> Sequence[TicketRequest]:
    query = (
        select(TicketRequest)
        .where(
            TicketRequest.gig_key == gig_key,  # type: ignore[arg-type]
            TicketRequest.state == RequestState.PENDING,  # type: ignore[arg-type]
            TicketRequest.expires_at > now,  # type: ignore[arg-type]
        )
        .order_by(TicketRequest.created_at, TicketRequest.id)  # type: ignore[arg-type]
    )
    return (await session.scalars(query)).all()


async def expire_requests(*, session: AsyncSession, now: datetime) -> int:
    result = await session.execute(
        update(TicketRequest)
        .where(TicketRequest.state == RequestState.PENDING, TicketRequest.expires_at <= now)  # type: ignore[arg-type]
        .values(state=RequestState.EXPIRED.value, resolved_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def unnotified(*, session: AsyncSession, order_id: str | None = None) -> Sequence[TicketRequest]:
    """Resolved requests whose requester has not been told yet (optionally for one order)."""
    query = select(TicketRequest).where(
        TicketRequest.state.in_([RequestState.FULFILLED.value, RequestState.REJECTED.value]),  # type: ignore[attr-defined]
        TicketRequest.notified_at.is_(None),  # type: ignore[union-attr]
    )
    if order_id is not None:
        query = query.where(TicketRequest.order_id == order_id)  # type: ignore[arg-type]
    return (await session.scalars(query.order_by(TicketRequest.id))).all()  # type: ignore[arg-type]


# ---- guild settings ----------------------------------------------------------------------------


async def guild_config(*, session: AsyncSession, guild_id: int) -> GuildConfig | None:
    return await session.get(GuildConfig, guild_id)


# ---- orders, as a ticket request finds them ----------------------------------------------------


# Built once, not per call: `/guarantee open` runs it every time, and building a statement costs
# about as much as running it.
_ORDERS_FOR_GIG = (
    select(Order, Ticket, _ESCROWS.c.state)
    .outerjoin(Ticket, Ticket.order_id == Order.id)  # type: ignore[arg-type]
    .outerjoin(_ESCROWS, _ESCROWS.c.order_id == Order.id)
    .where(Order.gig_key == bindparam("gig_key"))  # type: ignore[arg-type]
    .order_by(Order.agreed_at)  # type: ignore[arg-type]
)


async def orders_for_gig(*, session: AsyncSession, gig_key: str) -> list[tuple[Order, Ticket | None, str | None]]:
    """The gig's orders, oldest agreement first, each with its ticket and escrow state (or None), in one query."""
    rows = (await session.execute(_ORDERS_FOR_GIG, {"gig_key": gig_key})).all()
    return [(row[0], row[1], row[2]) for row in rows]


async def unticketed_orders_of_seller(*, session: AsyncSession, email: str) -> Sequence[Order]:
    """Live orders agreed with this seller email (trimmed, any case) that have no ticket yet."""
    query = (
        select(Order)
        .outerjoin(Ticket, Ticket.order_id == Order.id)  # type: ignore[arg-type]
        .where(
            SELLER_EMAIL_KEY == email,  # noqa: SIM300  (the indexed expression, not a constant)
            Order.cancelled_at.is_(None),  # type: ignore[union-attr]
            Ticket.id.is_(None),  # type: ignore[union-attr]
        )
    )
    return (await session.scalars(query)).all()


async def lock_gig(*, session: AsyncSession, gig_key: str) -> None:
    """Hold the gig until the transaction ends, so a request for it and the agreement for it take turns.

    PostgreSQL: a transaction-level advisory lock on the key's hash. SQLite runs one writer at a time;
    the caller's next write takes the database's write lock and its reads then see every commit before it.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": gig_key})


async def keep_pending_request(
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
