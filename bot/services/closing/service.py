"""Asking to close a ticket (PRODUCT.md §5): `/guarantee close` and the **Close ticket** button.

Only a Guarantor Officer of the ticket's server who is not a party to the order may close it, and only once
its escrow is terminal (released, refunded, cancelled). `question` decides that and words the confirmation;
`close` decides it again on the **Yes** and, in one transaction, moves the ticket to `closing` (a compare-and-set:
two officers at once give one closing) and writes its `ticket.close` effect. The effect worker then does the
work (`closer.TicketCloser`); a second close is told the ticket is already closing or closed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Ticket, TicketState
from bot.db.repos import escrow as escrow_repo
from bot.db.repos import orders as order_repo
from bot.db.repos import tickets as ticket_repo
from bot.services import outbox
from bot.services.errors import ConflictError, NotFoundError, PermissionDeniedError
from bot.services.escrow.results import AlreadyDoneError, SeparationOfDutiesError
from bot.services.escrow.rules import State
from bot.services.guilds import Actor, chosen_officer_role, config_of, officer_role_id
from bot.services.outbox import Effect, Kind
from bot.services.vocabulary import OFFICER, money
from bot.services.worker import PollingWorker

MAX_REASON = 500
CLOSABLE = (TicketState.OPEN, TicketState.ORPHANED)  # orphaned: its channel was deleted by hand; still closable

_WHAT_FIRST = {
    State.AWAITING_FUNDING: "the order must first be cancelled, or paid for and finished",
    State.FUNDED: "the payment must first be released to the freelancer or refunded to the buyer",
    State.DELIVERED: "the payment must first be released to the freelancer or refunded to the buyer",
    State.DISPUTED: "the dispute must first be decided: the payment released to the freelancer or refunded to "
    "the buyer",
}


@dataclass(frozen=True, slots=True)
class CloseQuestion:
    """What the confirmation names: the order, its amount, where the payment went, and what happens to the channel."""

    order_id: str
    amount: str
    state: State
    channel_action: str  # `delete` or `lock` (CLOSED_TICKET_ACTION)
    log_channel_id: int | None = None  # where the transcript is posted (`/guarantee setup log_channel`); None: nowhere


@dataclass(frozen=True, slots=True)
class Closing:
    """A closing under way: its effect is in the outbox."""

    order_id: str
    channel_action: str
    effect_id: int


def close_effect(order_id: str, *, by: int, reason: str | None) -> Effect:
    """Close the order's ticket (one effect per closing: a closing that failed can be asked for again)."""
    payload = {"by": by, "reason": reason}
    return Effect(order_id, Kind.CLOSE_TICKET, f"close:{order_id}:{uuid.uuid4().hex}", payload)


def _clean_reason(reason: str | None) -> str | None:
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise ConflictError(f"That reason is too long ({len(reason)} characters); keep it under {MAX_REASON}.")
    return reason or None


class ClosingService:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, channel_action: str, effects: PollingWorker | None = None
    ) -> None:
        self._sessions = sessions
        self._action = channel_action
        self.effects = effects  # woken once a closing is written

    async def question(
        self, actor: Actor, *, order_id: str | None = None, channel_id: int | None = None
    ) -> CloseQuestion:
        """Whether `actor` may close the ticket (of `order_id`, or of the channel `channel_id`) now, and what the
        question before it names; raises the refusal, worded for them."""
        async with self._sessions() as session:
            ticket = await self._ticket(session, order_id, channel_id)
            state = await self._decide(session, ticket, actor)
            order = await order_repo.get(session=session, order_id=ticket.order_id)
            config = await config_of(session, ticket.guild_id)
        amount = money(order.amount, order.currency) if order is not None else ""
        log_channel = config.log_channel_id if config is not None else None
        return CloseQuestion(ticket.order_id, amount, state, self._action, log_channel)

    async def close(self, actor: Actor, *, order_id: str, reason: str | None = None) -> Closing:
        """The **Yes**: decide again, then move the ticket to closing and write its effect, in one transaction."""
        reason = _clean_reason(reason)
        async with self._sessions.begin() as session:
            ticket = await self._ticket(session, order_id, None)
            await self._decide(session, ticket, actor)
            moved = await ticket_repo.set_state(
                session=session, ticket_id=int(ticket.id or 0), expected=TicketState(ticket.state),
                new=TicketState.CLOSING, closed_by=actor.user_id, close_reason=reason, transcript_html=None,
                transcript_text=None, transcript_sha256=None, transcript_posted_at=None, parties_told_at=None,
            )  # fmt: skip
            if not moved:  # another officer closed it a moment ago: say how it stands now
                ticket = await self._ticket(session, order_id, None, fresh=True)
                raise _already(ticket) or ConflictError(
                    f"The ticket of order {order_id} is changing right now; look at it and try again."
                )
            (effect_id,) = await outbox.write(session, [close_effect(order_id, by=actor.user_id, reason=reason)])
        if self.effects is not None:
            self.effects.wake()
        return Closing(order_id, self._action, effect_id)

    @staticmethod
    async def _ticket(
        session: AsyncSession, order_id: str | None, channel_id: int | None, *, fresh: bool = False
    ) -> Ticket:
        if order_id is not None:
            ticket = await ticket_repo.for_order(session=session, order_id=order_id, fresh=fresh)
            if ticket is None:
                raise NotFoundError(f"Order {order_id} has no ticket to close. Check the order id.")
            return ticket
        ticket = await ticket_repo.for_channel(session=session, channel_id=channel_id) if channel_id else None
        if ticket is None:
            raise NotFoundError("This is not a ticket channel. Run `/guarantee close` in the ticket you want to close.")
        return ticket

    @staticmethod
    async def _decide(session: AsyncSession, ticket: Ticket, actor: Actor) -> State:
        """The refusal that applies, if any (officer, separation of duties, the ticket's and the escrow's state);
        returns the escrow's (terminal) state."""
        order_id = ticket.order_id
        config = await config_of(session, ticket.guild_id)
        role = officer_role_id(chosen_officer_role(config), actor.named_officer_role_id)
        if actor.guild_id != ticket.guild_id or role is None or role not in actor.role_ids:
            raise PermissionDeniedError(
                f"Only a {OFFICER} can close a ticket. If the deal of order {order_id} is finished, ask one in the "
                "ticket to close it."
            )
        if actor.user_id in {ticket.freelancer_id, ticket.buyer_id}:
            raise SeparationOfDutiesError(
                f"You are a party to order {order_id}, so you cannot close its ticket as a {OFFICER}. "
                "Ask another officer to close it."
            )
        if (already := _already(ticket)) is not None:
            raise already
        if ticket.state == TicketState.OPENING:
            raise ConflictError(f"The ticket of order {order_id} is still being opened. Wait a moment, then try again.")
        escrow = await escrow_repo.get(session=session, order_id=order_id, fresh=True)
        state = State(escrow.state) if escrow is not None else State.AWAITING_FUNDING
        if not state.terminal:
            raise ConflictError(
                f"Order {order_id} is {state.label}, so its ticket cannot be closed yet: {_WHAT_FIRST[state]}. "
                "Look at the ticket's summary (the pinned message) for what comes next."
            )
        return state


def _already(ticket: Ticket) -> AlreadyDoneError | None:
    if ticket.state == TicketState.CLOSED:
        return AlreadyDoneError(f"The ticket of order {ticket.order_id} is already closed. Nothing more to do here.")
    if ticket.state == TicketState.CLOSING:
        return AlreadyDoneError(
            f"The ticket of order {ticket.order_id} is already being closed: its transcript is being saved. "
            "You don't need to do anything more."
        )
    return None
