"""`/guarantee queue` pages: read in the order of `ix_tickets_live_queue` (0005_ticket_queue_index) on
both backends, and still filtered by guild and state and paged without gaps or repeats."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.db.models import Order, Ticket, TicketState
from bot.db.repos import tickets as repo
from bot.db.types import utcnow
from tests.db.support import index_names, is_select, order_fields, plan, sent

GUILD, OTHER = 1234, 5678
LIVE = (TicketState.OPENING, TicketState.OPEN)
STATES = (TicketState.OPEN, TicketState.OPENING, TicketState.CLOSED, TicketState.ORPHANED)


async def add_tickets(sessions: async_sessionmaker[AsyncSession], count: int) -> None:
    """`count` tickets in GUILD and `count` in OTHER, states cycling, every third claimed, created in reverse."""
    start = utcnow() - timedelta(days=1)
    async with sessions.begin() as session:
        for n in range(2 * count):
            order = Order(**order_fields(n, start))
            session.add(order)
            await session.flush()
            session.add(
                Ticket(
                    order_id=order.id,
                    guild_id=GUILD if n < count else OTHER,
                    freelancer_id=7,
                    state=STATES[n % len(STATES)],
                    created_at=start - timedelta(minutes=n),
                    claimed_by=99 if n % 3 == 0 else None,
                )
            )


async def expected(sessions: async_sessionmaker[AsyncSession], states: tuple[TicketState, ...]) -> list[str]:
    async with sessions() as session:
        tickets = [t for t, _ in await repo.listing(session=session) if t.guild_id == GUILD and t.state in states]
    tickets.sort(key=lambda t: (t.claimed_by is not None, t.created_at, t.id))
    return [t.order_id for t in tickets]


async def test_pages_filter_guild_and_state_in_queue_order(sessions: async_sessionmaker[AsyncSession]) -> None:
    await add_tickets(sessions, 40)
    for states in (LIVE, (TicketState.CLOSED,), (TicketState.OPEN, TicketState.ORPHANED)):
        want = await expected(sessions, states)
        assert want, states
        got: list[str] = []
        async with sessions() as session:
            for offset in range(0, 40, 7):
                rows = await repo.queue(session=session, guild_id=GUILD, states=states, limit=7, offset=offset)
                assert all(order.id == ticket.order_id for ticket, order in rows)
                got += [ticket.order_id for ticket, _ in rows]
        assert got == want, states


async def test_the_queue_index_exists(engine: AsyncEngine) -> None:
    assert "ix_tickets_live_queue" in await index_names(engine, "tickets")


async def test_the_live_queue_page_is_read_from_its_index(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The page query as sent (parameters included): its live-ticket page comes from the partial index.
    SQLite uses a partial index only if the query names its states as literals, not as parameters."""
    await add_tickets(sessions, 20)
    with sent(engine, is_select) as seen:
        async with sessions() as session:
            assert await repo.queue(session=session, guild_id=GUILD, states=LIVE, limit=10, offset=5)
    # A handful of rows: forbid the scan and the sort so the plan shows whether an index serves the order.
    plan_text = await plan(engine, seen[-1], forbid_sort=True)
    assert "ix_tickets_live_queue" in plan_text, plan_text


async def test_delete_opening_deletes_only_a_ticket_still_opening(sessions: async_sessionmaker[AsyncSession]) -> None:
    """An open whose channel could not be made deletes its claim, unless the ticket moved on meanwhile."""
    start = utcnow()
    async with sessions.begin() as session:
        for n, state in enumerate((TicketState.OPENING, TicketState.OPEN)):
            session.add(Order(**order_fields(n, start)))
            await session.flush()
            session.add(Ticket(id=n + 1, order_id=f"ord_{n:03d}", guild_id=GUILD, freelancer_id=7, state=state))
    async with sessions.begin() as session:
        assert await repo.delete_opening(session=session, ticket_id=1)
        assert not await repo.delete_opening(session=session, ticket_id=2)
    async with sessions() as session:
        left = [(t.id, t.state) for t, _ in await repo.listing(session=session)]
    assert left == [(2, TicketState.OPEN)]
