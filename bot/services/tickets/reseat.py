"""A new freelancer for a ticket whose order's seller email changed before funding (`escrow.new_terms`).

The ticket exists, and its old freelancer was taken out of it (`Ticket.freelancer_unverified`). Whoever now runs
`/guarantee open` with the order's new seller email and its gig link passes the same checks as a first open
(compared, or proven with a code mailed to the new address); instead of pointing at the ticket, the open then
seats them as its freelancer and lets them into the channel, like `/guarantee join` does for a buyer.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Ticket
from bot.db.repos import audit as audit_repo
from bot.db.repos import escrow as escrow_repo
from bot.db.repos import orders as order_repo
from bot.db.repos import tickets as repo
from bot.db.types import utcnow
from bot.services import outbox
from bot.services.errors import ConflictError, GuaranteeError, PermissionDeniedError
from bot.services.escrow.rules import Role
from bot.services.outbox import Kind, held_until
from bot.services.tickets.joining import HeldEffects
from bot.services.tickets.port import TicketOpener
from bot.services.tickets.verification import EmailMismatchError, same_email
from bot.services.vocabulary import OFFICER


async def rejoin(
    sessions: async_sessionmaker[AsyncSession], opener: TicketOpener, effects: HeldEffects | None, ticket: Ticket,
    guild_id: int, user_id: int, *, proven: bool, email: str | None = None,
) -> Ticket:  # fmt: skip
    """Seat `user_id` (who just proved the order's current seller email) as the ticket's freelancer and add them
    to its channel; the summary is rebuilt right after. Undone if Discord refuses the add. `email`: the one
    compared, checked again as they are seated (newer terms may have landed meanwhile)."""
    order_id = ticket.order_id
    if guild_id != ticket.guild_id:
        raise ConflictError(f"The ticket of order {order_id} is in another server; run `/guarantee open` there.")
    if user_id == ticket.buyer_id:
        raise PermissionDeniedError(
            f"You joined order {order_id} as its buyer, so you cannot also be its freelancer. Ask a {OFFICER} "
            "in this server if that is wrong."
        )
    held = await _seat(sessions, ticket, user_id, proven=proven, email=email)
    old_id, ticket.freelancer_id, ticket.freelancer_unverified = ticket.freelancer_id, user_id, False
    ticket.freelancer_proven = proven
    try:
        await opener.add_member(ticket, user_id, side=Role.FREELANCER.value)
    except GuaranteeError:
        async with sessions.begin() as session:
            await repo.unseat_freelancer(session=session, ticket_id=int(ticket.id or 0), user_id=user_id, back=old_id)
        ticket.freelancer_id, ticket.freelancer_unverified = old_id, True
        raise
    finally:
        if effects is not None:
            await effects.run_now(held)
    return ticket


async def _seat(
    sessions: async_sessionmaker[AsyncSession], ticket: Ticket, user_id: int, *, proven: bool, email: str | None
) -> list[int]:
    order_id = ticket.order_id
    async with sessions.begin() as session:
        # Who the parties are is part of every escrow decision: forms opened before this must look again. The
        # escrow is taken before the ticket, in the order every other change takes them.
        version = await escrow_repo.bump_version(session=session, order_id=order_id)
        if not await repo.reseat_freelancer(
            session=session, ticket_id=int(ticket.id or 0), user_id=user_id, proven=proven
        ):
            raise ConflictError(
                f"Someone else proved the freelancer's email of order {order_id} just now. If that is not "
                f"right, ask a {OFFICER} in this server."
            )
        if email is not None:  # new terms bump the version too: once past it, their email is the one seen here
            order = await order_repo.get(session=session, order_id=order_id)
            if order is None or not same_email(email, order.seller_email):
                raise EmailMismatchError("seller")
        if await audit_repo.acted_as(session=session, order_id=order_id, actor=str(user_id), role=Role.OFFICER):
            raise PermissionDeniedError(
                f"You already acted as a {OFFICER} on order {order_id}, so you cannot also be its freelancer: one "
                "person cannot hold both roles. Ask another officer or a server admin."
            )
        key = f"summary:{order_id}:freelancer:{ticket.id}:{user_id}:{version}"
        effect = outbox.Effect(order_id, Kind.REFRESH_SUMMARY, key, held_until=held_until(utcnow()))
        return await outbox.write(session, [effect])
