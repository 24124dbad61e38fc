"""Closed tickets on the test database, made the way production makes them: stored marketplace
events worked by the real processor, escrow steps through the real `EscrowService` (audit entries
with notes, callbacks), the ticket and the freelancer's request rows."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from bot.db.models import RequestState, Ticket, TicketRequest, TicketState
from bot.db.types import utcnow
from bot.services.escrow.rules import Action, Role
from bot.services.escrow.service import EscrowService
from bot.services.events.processor import EventProcessor
from tests.services.helpers import order_book, store
from tests.webhooks.events import agreed, event

Sessions = async_sessionmaker[AsyncSession]
GUILD, FREELANCER, BUYER, OFFICER = 900, 1001, 1002, 2001
REASON = "refunded: the buyer changed plans; write to bo.buyer@example.com"
DELIVERY_NOTE = "files sent to bo.buyer@example.com"
_events = count(1)


async def work_events(sessions: Sessions, *documents: dict) -> None:
    for document in documents:
        await store(sessions, f"msg_{next(_events)}", document)
    await EventProcessor(sessions, order_book(sessions, callbacks_enabled=True)).process_due()


async def officer_step(
    sessions: Sessions, order_id: str, action: Action, note: str | None = None, *, officer: int = OFFICER
) -> None:
    escrow = EscrowService(sessions, callbacks_enabled=True)
    async with sessions.begin() as session:
        await escrow.apply_in(session, order_id, action, actor=str(officer), role=Role.OFFICER, note=note)


async def closed_ticket(
    sessions: Sessions,
    order_id: str = "ord_1",
    *,
    closed_at: datetime | None = None,
    state: TicketState = TicketState.CLOSED,
    deliverables: str = "A logo; send drafts to sam.seller@example.com",
    people: tuple[int, int, int] = (FREELANCER, BUYER, OFFICER),
    guild_id: int = GUILD,
) -> None:
    """An order agreed, funded, delivered (the marketplace's note names an email) and refunded (the
    officer's reason too); its ticket claimed by OFFICER and closed at `closed_at` (200 days ago by
    default), and the request that opened it. `people`: the freelancer's, buyer's and officer's Discord ids."""
    freelancer, buyer, officer = people
    await work_events(sessions, agreed(order_id, deliverables=deliverables))
    when = closed_at or utcnow() - timedelta(days=200)
    async with sessions.begin() as session:
        session.add(
            Ticket(
                order_id=order_id,
                guild_id=guild_id,
                state=TicketState.OPEN,
                freelancer_id=freelancer,
                buyer_id=buyer,
                channel_id=next(_events) + 10**9,
                claimed_by=officer,
            )
        )
        session.add(
            TicketRequest(
                guild_id=guild_id,
                user_id=freelancer,
                email=" Seller@Example.com ",
                gig_key=f"opentaskai.com/gigs/{order_id}-logo",
                state=RequestState.FULFILLED,
                order_id=order_id,
                expires_at=when,
            )
        )
    await officer_step(sessions, order_id, Action.FUND, "payment reference PAY-1", officer=officer)
    delivered = {"order_id": order_id, "delivered_at": "2026-11-26T10:00:00+00:00", "note": DELIVERY_NOTE}
    await work_events(sessions, event("order.delivered", delivered))
    await officer_step(sessions, order_id, Action.REFUND, REASON, officer=officer)
    closed = when if state == TicketState.CLOSED else None
    async with sessions.begin() as session:
        await session.execute(
            update(Ticket).where(col(Ticket.order_id) == order_id).values(state=state, closed_at=closed)
        )
