"""A freelancer's request for a ticket, and the requests made before the agreement event arrived.

`new_ticket` is the one place a request becomes a ticket row (`/guarantee open` and a
resolved pending request both go through it).

A pending request waits (for `PENDING_REQUEST_HOURS`) for an order with its gig. When that
order arrives, the order book calls `resolve_for_order` inside the event's transaction: the
first request whose email is the seller's becomes the ticket row (the bot makes the channel
after the commit, or when it connects); a request with another email is rejected. Either way
the requester is told, once, by `notify_requesters`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Order, RequestState, Ticket, TicketRequest, TicketState
from bot.db.repos import requests as request_repo
from bot.db.repos import tickets as repo
from bot.db.types import utcnow
from bot.services.tickets.verification import EmailMismatchError, same_email

if TYPE_CHECKING:
    from bot.services.tickets.port import TicketOpener

log = logging.getLogger(__name__)


async def keep_pending(
    session: AsyncSession, *, guild_id: int, channel_id: int | None, user_id: int, email: str, gig_key: str, hours: int
) -> TicketRequest:
    """Store (or refresh) the user's request for this gig; it waits `hours` for the order."""
    now = utcnow()
    request = await request_repo.pending_of_user(session=session, user_id=user_id, gig_key=gig_key)
    if request is None:
        request = TicketRequest(
            guild_id=guild_id, channel_id=channel_id, user_id=user_id, email=email, gig_key=gig_key, expires_at=now
        )
        session.add(request)
    request.guild_id, request.channel_id, request.email = guild_id, channel_id, email
    request.expires_at = now + timedelta(hours=hours)
    await session.flush()
    log.info("ticket request %s kept until the order for its gig arrives", request.id)
    return request


def new_ticket(*, order_id: str, guild_id: int, freelancer_id: int, origin_channel_id: int | None) -> Ticket:
    """The ticket row for a freelancer's request, in `opening` until its channel is made."""
    return Ticket(
        order_id=order_id,
        guild_id=guild_id,
        freelancer_id=freelancer_id,
        origin_channel_id=origin_channel_id,
        state=TicketState.OPENING,
    )


async def resolve_for_order(session: AsyncSession, order: Order) -> bool:
    """Turn the waiting requests for this order's gig into a ticket row, or reject them; True if there were any."""
    requests = await request_repo.pending_for_gig(session=session, gig_key=order.gig_key, now=utcnow())
    if not requests:
        return False
    ticket = await repo.for_order(session=session, order_id=order.id)
    for request in requests:
        request.order_id, request.resolved_at = order.id, utcnow()
        if not same_email(request.email, order.seller_email):
            request.state = RequestState.REJECTED
            request.outcome = str(EmailMismatchError("seller"))
            continue
        request.state = RequestState.FULFILLED
        if ticket is None and order.cancelled_at is None:
            ticket = new_ticket(
                order_id=order.id,
                guild_id=request.guild_id,
                freelancer_id=request.user_id,
                origin_channel_id=request.channel_id,
            )
            session.add(ticket)
    await session.flush()
    return True


def _notice(request: TicketRequest, ticket: Ticket | None, failure: str | None) -> tuple[str, int | None] | None:
    """What to tell the requester now, with the ticket channel to point at; None = not yet."""
    if request.state == RequestState.REJECTED:
        return f"The marketplace confirmed order {request.order_id}, but I could not open its ticket. "\
            f"{request.outcome}", None  # fmt: skip
    if ticket is not None and ticket.state == TicketState.OPEN:
        return f"The marketplace confirmed order {request.order_id}: its guarantee ticket is open.", ticket.channel_id
    if failure is not None:
        return (
            f"The marketplace confirmed order {request.order_id}, but the ticket could not be opened: {failure}",
            None,
        )
    return None


async def notify_requesters(
    sessions: async_sessionmaker[AsyncSession], opener: TicketOpener, order_id: str, failure: str | None
) -> None:
    """Tell every requester of this order the outcome, once (DM, or a mention where they asked)."""
    async with sessions() as session:
        requests = await request_repo.unnotified(session=session, order_id=order_id)
        ticket = await repo.for_order(session=session, order_id=order_id)
    for request in requests:
        notice = _notice(request, ticket, failure)
        if notice is None:
            continue
        text, ticket_channel_id = notice
        try:
            await opener.notify(
                user_id=request.user_id,
                fallback_channel_id=request.channel_id,
                text=text,
                ticket_channel_id=ticket_channel_id,
            )
        except Exception:
            log.exception("telling requester of order %s failed; retried at the next start", order_id)
            continue
        async with sessions.begin() as session:
            stored = await session.get(TicketRequest, request.id)
            if stored is not None:
                stored.notified_at = utcnow()
