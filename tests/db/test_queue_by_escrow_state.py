"""`/guarantee queue state:<escrow state>`: filtered in SQL, so every matching ticket is counted and
paged, however many live tickets come before it (it used to look only at the first 1,000)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Escrow, Order, Ticket, TicketState
from bot.db.types import utcnow
from bot.services.tickets.queries import PAGE_SIZE, TicketQueries
from tests.db.support import officer_of, order_fields

GUILD = 1234


async def add(sessions: async_sessionmaker[AsyncSession], count: int, funded: set[int]) -> None:
    """`count` open tickets, oldest first by number; those in `funded` are funded, the rest awaiting funding."""
    start = utcnow() - timedelta(days=2)
    orders, tickets, escrows = [], [], []
    for n in range(count):
        order = order_fields(n, start)
        order_id = order["id"]
        orders.append({**order, "created_at": start, "updated_at": start})
        created = start + timedelta(seconds=n)
        tickets.append(
            {
                "order_id": order_id,
                "guild_id": GUILD,
                "freelancer_id": 7,
                "state": TicketState.OPEN.value,
                "created_at": created,
                "updated_at": created,
            }
        )
        state = "funded" if n in funded else "awaiting_funding"
        escrows.append({"order_id": order_id, "state": state, "version": 0, "created_at": start, "updated_at": start})
    async with sessions.begin() as session:
        await session.execute(insert(Order), orders)
        await session.execute(insert(Ticket), tickets)
        await session.execute(insert(Escrow), escrows)


async def test_tickets_past_the_first_thousand_are_found_counted_and_paged(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    funded = {3, 1004, 1010, *range(1020, 1031)}  # 14: two pages, most of them behind 1,000 older tickets
    await add(sessions, 1040, funded)
    queries = TicketQueries(sessions)

    first = await queries.queue(officer_of(GUILD), state="funded")
    assert (first.total, first.pages) == (len(funded), 2)
    second = await queries.queue(officer_of(GUILD), state="funded", page=2)
    got = [item.order.id for item in first.items + second.items]
    assert got == [f"ord_{n:03d}" for n in sorted(funded)]
    assert all(item.escrow_state == "funded" for item in first.items + second.items)
    assert len(first.items) == PAGE_SIZE

    waiting = await queries.queue(officer_of(GUILD), state="awaiting_funding", page=999)
    assert waiting.total == 1040 - len(funded) and waiting.page == waiting.pages
    assert "ord_1039" in [item.order.id for item in waiting.items]
