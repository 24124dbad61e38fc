"""What the ticket read paths send to the database: no schema probes, one count and one page per queue page."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.db.models import Order, Ticket, TicketState
from bot.db.repos import audit as audit_repo
from bot.db.repos import escrow as escrow_repo
from bot.db.types import utcnow
from bot.services.tickets.queries import TicketQueries
from tests.db.support import officer_of, order_fields, sent

GUILD = 1234


async def add_tickets(sessions: async_sessionmaker[AsyncSession], count: int) -> None:
    start = utcnow() - timedelta(days=1)
    async with sessions.begin() as session:
        for n in range(count):
            order = Order(**order_fields(n, start))
            session.add(order)
            await session.flush()
            session.add(
                Ticket(
                    order_id=order.id,
                    guild_id=GUILD,
                    freelancer_id=7,
                    state=TicketState.OPEN,
                    created_at=start + timedelta(minutes=n),
                    claimed_by=99 if n % 3 == 0 else None,
                )
            )


async def test_escrow_reads_probe_no_schema(engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> None:
    await add_tickets(sessions, 1)
    with sent(engine) as captured:
        async with sessions() as session:
            assert await escrow_repo.states(session=session, order_ids=["ord_000"]) == {}
            assert await audit_repo.for_order(session=session, order_id="ord_000") == []
    seen = [statement for statement, _ in captured]
    queries = [s for s in seen if s.strip().upper() not in {"BEGIN", "COMMIT", "ROLLBACK"}]
    assert len(queries) == 2, queries
    assert all("escrows" in s or "audit_entries" in s for s in queries), queries
    assert not any("PRAGMA" in s.upper() or "PG_CATALOG" in s.upper() for s in seen), seen


async def test_a_queue_page_is_one_count_and_one_page_query(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await add_tickets(sessions, 25)
    with sent(engine) as captured:
        page = await TicketQueries(sessions).queue(officer_of(GUILD), page=2)
    seen = [statement for statement, _ in captured]
    on_tickets = [s for s in seen if "FROM tickets" in s]
    assert len(on_tickets) == 2, on_tickets
    assert sum("count(" in s.lower() for s in on_tickets) == 1
    assert not any("PRAGMA" in s.upper() for s in seen)
    assert (page.page, page.pages, page.total) == (2, 3, 25)
    unclaimed = [f"ord_{n:03d}" for n in range(25) if n % 3]
    claimed = [f"ord_{n:03d}" for n in range(25) if not n % 3]
    assert [item.ticket.order_id for item in page.items] == (unclaimed + claimed)[10:20]


async def test_a_page_past_the_end_shows_the_last_page(sessions: async_sessionmaker[AsyncSession]) -> None:
    await add_tickets(sessions, 12)
    page = await TicketQueries(sessions).queue(officer_of(GUILD), page=9)
    assert (page.page, page.pages, page.total, len(page.items)) == (2, 2, 12, 2)
    empty = await TicketQueries(sessions).queue(officer_of(GUILD + 1))
    assert (empty.page, empty.pages, empty.total, empty.items) == (1, 1, 0, [])
