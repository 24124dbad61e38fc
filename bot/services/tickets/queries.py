"""What officers and parties read about tickets: status, the queue, choices, listings."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import AuditEntry, Order, OrderTerms, Ticket, TicketState
from bot.db.repos import audit as audit_repo
from bot.db.repos import escrow as escrow_repo
from bot.db.repos import events as event_repo
from bot.db.repos import orders as order_repo
from bot.db.repos import tickets as repo
from bot.services.errors import GuaranteeError, NotFoundError, PermissionDeniedError
from bot.services.escrow.rules import State
from bot.services.guilds import Actor, is_officer
from bot.services.vocabulary import OFFICERS, TICKET_STATE_WORDS, money

ESCROW_STATES = tuple(state.value for state in State)
LIVE_TICKETS = (TicketState.OPENING, TicketState.OPEN)
PAGE_SIZE = 10


@dataclass(frozen=True, slots=True)
class TicketSummary:
    ticket: Ticket
    order: Order
    escrow_state: str | None


@dataclass(frozen=True, slots=True)
class QueuePage:
    items: list[TicketSummary]
    page: int
    pages: int
    total: int


@dataclass(frozen=True, slots=True)
class Step:
    """One step of an order's history: its terms arriving (`what` is the event type), or an escrow action
    (`what` is the action, with who did it in which role)."""

    when: datetime
    what: str
    actor: str | None = None
    role: str | None = None


TERMS_EVENTS = ("order.agreed", "order.updated")  # what else the marketplace sent shows as the escrow steps it made


@dataclass(frozen=True, slots=True)
class OrderStatus:
    order: Order
    ticket: Ticket  # only the parties of a ticket and the officers of its server see an order
    escrow_state: str | None
    terms: Sequence[OrderTerms]
    events: list[Step]
    approved: bool = False


class UnknownStateError(GuaranteeError):
    def __init__(self, state: str) -> None:
        super().__init__(f"I don't know the state {state!r}. Pick one from the list the command offers.")


class NotOfficerError(PermissionDeniedError):
    def __init__(self) -> None:
        super().__init__(
            f"Only {OFFICERS} can see the queue. If you are one, ask a server admin to give you the officer role; "
            "anyone can check who is one with `/guarantee officer`."
        )


def _escrow_step(entry: AuditEntry) -> Step:
    """An escrow audit entry as a step of the order's history."""
    return Step(entry.created_at, entry.action, entry.actor, entry.role)


def _not_yours(order_id: str) -> NotFoundError:
    return NotFoundError(
        f"I found no order {order_id!r} that you are part of. Check the order id; only its freelancer, "
        f"its buyer and {OFFICERS} can see an order."
    )


class TicketQueries:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def status(self, actor: Actor, *, order_id: str | None = None, channel_id: int | None = None) -> OrderStatus:
        """The order asked for, or the ticket of this channel, or the caller's newest ticket.

        Parties see their order anywhere; an officer of the server where the command was typed only
        opens orders whose ticket lives in that same server.
        """
        user_id = actor.user_id
        async with self._sessions() as session:
            ticket = await self._pick(session, user_id, order_id, channel_id)
            wanted = order_id.strip() if order_id else (ticket.order_id if ticket else None)
            if wanted is None:
                raise NotFoundError("You have no guarantee tickets. Give the order id to look one up.")
            order = await order_repo.get(session=session, order_id=wanted)
            officer_here = ticket is not None and ticket.guild_id == actor.guild_id and await is_officer(session, actor)
            allowed = officer_here or (ticket is not None and user_id in {ticket.freelancer_id, ticket.buyer_id})
            if order is None or ticket is None or not allowed:
                raise _not_yours(wanted)
            escrow = await escrow_repo.get(session=session, order_id=order.id)
            terms = await order_repo.terms_history(session=session, order_id=order.id)
            received = await event_repo.for_order(session=session, order_id=order.id)
            events = [Step(e.received_at, e.type) for e in received if e.type in TERMS_EVENTS]
            events += [_escrow_step(e) for e in await audit_repo.for_order(session=session, order_id=order.id)]
        events.sort(key=lambda step: step.when)
        state = escrow.state if escrow is not None else None
        approved = escrow is not None and escrow.approved_at is not None
        return OrderStatus(order, ticket, state, terms, events, approved)

    async def _pick(
        self, session: AsyncSession, user_id: int, order_id: str | None, channel_id: int | None
    ) -> Ticket | None:
        if order_id:
            return await repo.for_order(session=session, order_id=order_id.strip())
        if channel_id is not None:
            here = await repo.for_channel(session=session, channel_id=channel_id)
            if here is not None:
                return here
        mine = await repo.for_user(session=session, user_id=user_id, limit=1)
        return mine[0][0] if mine else None

    async def queue(self, actor: Actor, *, state: str | None = None, page: int = 1) -> QueuePage:
        """Tickets of the actor's server (officers only): unclaimed first, then oldest first, `PAGE_SIZE` a page."""
        wanted = (state or "").strip().lower() or None
        ticket_states = [s for s in TicketState if s.value == wanted] or list(LIVE_TICKETS)
        if wanted is not None and wanted not in {s.value for s in TicketState} and wanted not in ESCROW_STATES:
            raise UnknownStateError(wanted)
        escrow_state = wanted if wanted in ESCROW_STATES else None
        guild_id = actor.guild_id or 0
        async with self._sessions() as session:
            if not await is_officer(session, actor):
                raise NotOfficerError()
            total = await repo.queue_size(
                session=session, guild_id=guild_id, states=ticket_states, escrow_state=escrow_state
            )
            pages = max(1, math.ceil(total / PAGE_SIZE))
            page = min(max(page, 1), pages)
            rows = await repo.queue(
                session=session,
                guild_id=guild_id,
                states=ticket_states,
                limit=PAGE_SIZE,
                offset=(page - 1) * PAGE_SIZE,
                escrow_state=escrow_state,
            )
            escrow = await escrow_repo.states(session=session, order_ids=[t.order_id for t, _ in rows])
        items = [TicketSummary(t, o, escrow.get(t.order_id)) for t, o in rows]
        return QueuePage(items, page, pages, total)

    async def order_choices(self, actor: Actor, current: str) -> list[tuple[str, str]]:
        """Autocomplete: the caller's own orders (officers: also the guild's live tickets), matching `current`."""
        needle = current.strip().lower()
        async with self._sessions() as session:
            rows = list(await repo.for_user(session=session, user_id=actor.user_id, limit=100))
            if actor.guild_id is not None and await is_officer(session, actor):
                live = await repo.queue(session=session, guild_id=actor.guild_id, states=LIVE_TICKETS, limit=100)
                rows += [row for row in live if row[0].order_id not in {t.order_id for t, _ in rows}]
        choices = []
        for ticket, order in rows:
            if needle in order.id.lower():
                state = TICKET_STATE_WORDS[ticket.state].split(" (")[0]
                shown = f"{order.id} · {money(order.amount, order.currency)} · ticket {state}"
                choices.append((shown[:100], order.id))
        return choices[:25]

    async def listing(self, *, state: TicketState | None = None) -> list[TicketSummary]:
        """Every ticket (optionally in one state), oldest first: for the CLI."""
        async with self._sessions() as session:
            rows = await repo.listing(session=session, state=state)
            escrow = await escrow_repo.states(session=session, order_ids=[t.order_id for t, _ in rows])
        return [TicketSummary(t, o, escrow.get(t.order_id)) for t, o in rows]


def ticket_record(item: TicketSummary) -> dict[str, object]:
    """One ticket as plain values (for JSON and tables); emails stay out."""
    ticket, order = item.ticket, item.order
    return {
        "order_id": ticket.order_id,
        "state": ticket.state.value if isinstance(ticket.state, TicketState) else ticket.state,
        "escrow_state": item.escrow_state,
        "guild_id": ticket.guild_id,
        "channel_id": ticket.channel_id,
        "summary_message_id": ticket.summary_message_id,
        "freelancer_id": ticket.freelancer_id,
        "buyer_id": ticket.buyer_id,
        "claimed_by": ticket.claimed_by,
        "amount": str(order.amount),
        "currency": order.currency,
        "created_at": ticket.created_at.isoformat(),
        "opened_at": ticket.opened_at.isoformat() if ticket.opened_at else None,
        "closed_at": ticket.closed_at.isoformat() if ticket.closed_at else None,
    }
