"""Marketplace events drive the escrow too, as actor `marketplace`, inside the event's transaction.

The order book calls `MarketplaceEscrow` by name for every event that touched an order:

* a new order opens its escrow in `awaiting_funding` (`open`: the one place an escrow is made);
* `order.delivered`: funded → delivered;
* `order.completed`: the buyer accepted on the marketplace. Only once the work is delivered is it recorded
  as the buyer's approval, so an officer may release without an override; one that arrives earlier
  (waiting for payment, payment held) is recorded on the order and flagged to officers, nothing more, and
  never counts as the approval later. It never moves money by itself: an officer still releases;
* `order.cancelled`: awaiting_funding → cancelled; after funding it is recorded and flagged;
* `order.updated` before funding with other terms: `take_new_terms` / `new_terms_recorded` (`new_terms.py`);
  after funding (terms locked): recorded and flagged, never applied.

Each step is keyed by the event's webhook id, so a replayed event changes nothing. The
changes are returned; the processor has them announced once the transaction has committed.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Escrow
from bot.db.repos import audit as audit_repo
from bot.db.repos import escrow as escrow_repo
from bot.services import outbox
from bot.services.escrow import announcements, audit, new_terms
from bot.services.escrow.results import MARKETPLACE, Change, ticket_view
from bot.services.escrow.rules import Action, Role, State, rule_for
from bot.services.escrow.service import EscrowService
from bot.services.events.terms import Terms, TermsChange

_NOT_HELD = "but no payment is held in escrow yet. A Guarantor Officer checks with both parties here."
_FLAGS = {
    ("order.delivered", State.AWAITING_FUNDING): f"The marketplace reports the work delivered, {_NOT_HELD}",
    ("order.completed", State.AWAITING_FUNDING): f"The marketplace reports the order completed, {_NOT_HELD}",
    ("order.completed", State.FUNDED): "The marketplace reports the order completed, but the work is not marked "
    "delivered here yet. This does not count as the buyer's approval: once the work is delivered, the buyer "
    "approves it here (or the marketplace reports it completed again).",
    ("order.completed", State.DISPUTED): "The buyer accepted the work on the marketplace during the dispute. "
    "The Guarantor Officer deciding it takes that into account.",
}
_MOVES_ESCROW = frozenset({"order.delivered", "order.completed", "order.cancelled"})
_CANCEL_FLAG = (
    "The order was cancelled on the marketplace while its payment is held in escrow: a Guarantor Officer "
    "decides whether to refund the buyer."
)
_TERMS_FLAG = (
    "New terms arrived after the payment was put in escrow. They are recorded, not applied: the terms the "
    "payment was made for stand."
)


class MarketplaceEscrow:
    """What the marketplace's events do to an order's escrow (the order book's escrow step)."""

    def __init__(self, escrow: EscrowService) -> None:
        self._escrow = escrow

    @staticmethod
    async def open(session: AsyncSession, order_id: str) -> None:
        """A new order's escrow, awaiting funding (nothing happens if it has one)."""
        await escrow_repo.create(session=session, order_id=order_id, state=State.AWAITING_FUNDING.value)

    @staticmethod
    async def take_new_terms(session: AsyncSession, order_id: str) -> int | None:
        """Other terms arrived: the escrow's new version if no payment is held yet; None: the terms are frozen."""
        return await new_terms.take(session, order_id)

    @staticmethod
    async def new_terms_recorded(
        session: AsyncSession, *, order_id: str, old: Terms, new: Terms, change: TermsChange, version: int,
        event_id: str,
    ) -> Change:  # fmt: skip
        """The audit entry, the parties whose email changed, the ticket's summary and line (`new_terms.record`)."""
        return await new_terms.record(
            session, order_id=order_id, old=old, new=new, change=change, version=version, event_id=event_id
        )

    async def react(
        self, session: AsyncSession, *, order_id: str, event_type: str, webhook_id: str, terms_locked: bool
    ) -> list[Change]:
        """Apply what this event means for the escrow; returns the changes to announce after the commit."""
        if event_type not in _MOVES_ESCROW and not terms_locked:
            return []  # agreed or current terms, an unknown type: nothing for the escrow (no reads either)
        escrow = await escrow_repo.get(session=session, order_id=order_id, fresh=True)
        if escrow is None:
            return []
        state = State(escrow.state)
        if await audit_repo.event_recorded(session=session, order_id=order_id, source_event_id=webhook_id):
            return []  # a replay: this event already did what it does
        if terms_locked:
            return [await self._flag(session, escrow, _TERMS_FLAG, webhook_id)]
        plan: list[Action] = []
        if event_type == "order.delivered":
            plan = [Action.DELIVER]
        elif event_type == "order.completed" and escrow.approved_at is None:
            plan = [Action.APPROVE]  # only after delivery (the rule's state); earlier ones are flagged below
        elif event_type == "order.cancelled":
            plan = [Action.CANCEL]
        if plan and rule_for(plan[0], state) is not None:
            return [await self._apply(session, order_id, action, webhook_id) for action in plan]
        if event_type == "order.cancelled" and not state.terminal:
            return [await self._flag(session, escrow, _CANCEL_FLAG, webhook_id)]
        if (text := _FLAGS.get((event_type, state))) is not None:
            return [await self._flag(session, escrow, text, webhook_id)]
        return []

    async def _apply(self, session: AsyncSession, order_id: str, action: Action, event_id: str) -> Change:
        return await self._escrow.apply_in(
            session, order_id, action, actor=MARKETPLACE, role=Role.MARKETPLACE, source_event_id=event_id
        )

    @staticmethod
    async def _flag(session: AsyncSession, escrow: Escrow, text: str, event_id: str) -> Change:
        """Record what officers must look at (a flag changes neither the state nor the version)."""
        order_id, state = escrow.order_id, State(escrow.state)
        await escrow_repo.set_flag(session=session, order_id=order_id, flag=text)
        record = audit.Record(order_id, Action.FLAG, MARKETPLACE, Role.MARKETPLACE, state, state, text, event_id)
        entry = await audit.append(session=session, record=record)
        change = Change(
            order_id, Action.FLAG, MARKETPLACE, Role.MARKETPLACE, state, state, escrow.version, text, event_id,
            entry.seq, approved=escrow.approved_at is not None, ticket=await ticket_view(session, order_id),
        )  # fmt: skip
        await outbox.write(session, announcements.plan(change))
        return change
