"""A freelancer's request for a ticket, and the requests made before the agreement event arrived.

`new_ticket` is the one place a request becomes a ticket row (`/guarantee open` and a
resolved pending request both go through it).

A pending request waits (for `PENDING_REQUEST_HOURS`) for an order with its gig. When that
order arrives, the order book calls `resolve_for_order` inside the event's transaction: the
first request whose email is the seller's becomes the ticket row (the bot makes the channel
after the commit, or when it connects); a request with another email is rejected. If nothing
arrives in time, `expire_due` (the event processor's periodic sweep, and the start-up) marks it
expired. Whatever happens, the requester is told, once, by a `ticket.tell` effect.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Order, RequestState, Ticket, TicketState
from bot.db.repos import requests as request_repo
from bot.db.repos import tickets as repo
from bot.db.types import utcnow
from bot.services import outbox
from bot.services.outbox import Effect, Kind
from bot.services.tickets import opening
from bot.services.tickets.verification import EmailMismatchError, same_email
from bot.services.timers import schedule as timers
from bot.services.timers.schedule import DEFAULT_PERIODS, TimerPeriods

log = logging.getLogger(__name__)


async def keep_pending(
    session: AsyncSession, *, guild_id: int, channel_id: int | None, user_id: int, email: str, gig_key: str, hours: int
) -> datetime:
    """Store (or refresh) the user's one request for this gig; it waits `hours` for the order. Returns its expiry."""
    now = utcnow()
    request_id, expires_at = await request_repo.keep_pending(
        session=session, guild_id=guild_id, channel_id=channel_id, user_id=user_id, email=email, gig_key=gig_key,
        now=now, expires_at=now + timedelta(hours=hours),
    )  # fmt: skip
    log.info("ticket request %s kept until the order for its gig arrives", request_id)
    return expires_at


def expired_key(request_id: int) -> str:
    """The outbox's order line of an expired request: it has no order ("request:" is never an order id)."""
    return f"request:{request_id}"


async def expire_due(session: AsyncSession, *, now: datetime) -> list[Effect]:
    """Requests whose wait is over are expired, and each requester is told (the effects written, returned)."""
    expired = await request_repo.expire(session=session, now=now)
    effects = [
        opening.tell_effect(expired_key(request_id), user_id=user_id, fallback_channel_id=channel_id,
                            request_id=request_id, guild_id=guild_id)
        for request_id, user_id, channel_id, guild_id in expired
    ]  # fmt: skip
    if effects:
        log.info("%d ticket request(s) expired; their requesters are told", len(effects))
        await outbox.write(session, effects)
    return effects


def new_ticket(
    *, order_id: str, guild_id: int, freelancer_id: int, origin_channel_id: int | None, proven: bool = False
) -> Ticket:
    """The ticket row for a freelancer's request, in `opening` until its channel is made (`proven`: the seller
    email was proven with a code, not only compared)."""
    return Ticket(
        order_id=order_id,
        guild_id=guild_id,
        freelancer_id=freelancer_id,
        origin_channel_id=origin_channel_id,
        state=TicketState.OPENING,
        freelancer_proven=proven,
    )


async def resolve_for_order(
    session: AsyncSession, order: Order, *, proving: bool = False, timer_periods: TimerPeriods = DEFAULT_PERIODS
) -> list[Effect]:
    """Turn the waiting requests for this order's gig into a ticket row, or reject them; returns the effects
    written: the channel to make (if a ticket row was made) and, after it, a word to each requester. When emails
    are proven with codes (`proving`), no request opens a ticket: each requester, matching or not, is told the
    same, to ask again for a code. A ticket row made here sets its reminder (`timer_periods`)."""
    await request_repo.lock_gig(session=session, gig_key=order.gig_key)  # a request being saved for this gig goes first
    requests = await request_repo.pending_for_gig(session=session, gig_key=order.gig_key, now=utcnow())
    if not requests:
        return []
    ticket = await repo.for_order(session=session, order_id=order.id)
    effects: list[Effect] = []
    for request in requests:
        request.order_id, request.resolved_at = order.id, utcnow()
        if proving:
            request.state = RequestState.TO_PROVE
            continue
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
            effects.append(opening.open_effect(order.id))
    await session.flush()
    effects += [
        opening.tell_effect(order.id, user_id=r.user_id, fallback_channel_id=r.channel_id, request_id=r.id)
        for r in requests
    ]
    if effects and effects[0].kind is Kind.OPEN_TICKET:
        # The opening's id is the unclaimed reminder's generation (none: this opening was written before).
        if opened := await outbox.write(session, effects[:1], ids=True):
            await timers.ticket_opened(session, order.id, opening=opened[0], periods=timer_periods, now=utcnow())
        await outbox.write(session, effects[1:])
    else:
        await outbox.write(session, effects)
    return effects
