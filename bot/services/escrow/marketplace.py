"""Marketplace events drive the escrow too, as actor `marketplace`, inside the event's transaction.

* a new order (`Outcome.CREATED`) opens its escrow in `awaiting_funding`;
* `order.delivered`: funded → delivered;
* `order.completed`: the buyer accepted on the marketplace. Recorded as the buyer's approval
  (after marking delivery if the escrow was still `funded`), so an officer may release
  without an override. It never moves money by itself: an officer still releases;
* `order.cancelled`: awaiting_funding → cancelled; after funding it is recorded and flagged;
* `order.updated` after funding (`Outcome.TERMS_LOCKED`): recorded and flagged, never applied.

Each step is keyed by the event's webhook id, so a replayed event changes nothing. The
changes are announced once the event's transaction has committed (`after_commit`).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.repos import escrow as escrow_repo
from bot.services.escrow import audit
from bot.services.escrow.rules import Action, Role, State, rule_for
from bot.services.escrow.service import MARKETPLACE, Change, EscrowService
from bot.services.events.order_book import AppliedEvent, Outcome

_FLAGS = {
    ("order.delivered", State.AWAITING_FUNDING): "The marketplace reports the order delivered, but it is not funded.",
    ("order.completed", State.AWAITING_FUNDING): "The marketplace reports the order completed, but it is not funded.",
    ("order.completed", State.DISPUTED): "The buyer accepted the order on the marketplace during the dispute.",
}
_CANCEL_FLAG = "The order was cancelled on the marketplace after funding: an officer must decide (refund?)."
_TERMS_FLAG = "New terms arrived after funding. They are recorded, not applied: the funded terms stand."


async def terms_locked(session: AsyncSession, order_id: str) -> bool:
    """Terms are frozen once the escrow left `awaiting_funding` (the `OrderBook` terms lock)."""
    escrow = await escrow_repo.get(session=session, order_id=order_id)
    return escrow is not None and escrow.state != State.AWAITING_FUNDING


class MarketplaceEscrow:
    """The `OrderBook` hook and the processor's after-commit step, sharing the pending changes."""

    def __init__(self, escrow: EscrowService) -> None:
        self._escrow = escrow
        self._pending: dict[str, list[Change]] = {}

    async def on_event(self, session: AsyncSession, applied: AppliedEvent) -> None:
        self._pending.pop(applied.webhook_id, None)  # a retried event starts afresh
        if applied.order is None or applied.outcome in (Outcome.IGNORED, Outcome.WAITING):
            return
        order_id = applied.order.id
        await escrow_repo.create(session=session, order_id=order_id, state=State.AWAITING_FUNDING.value)
        changes = await self._react(session, applied, order_id)
        if changes:
            self._pending[applied.webhook_id] = changes

    async def after_commit(self, applied: AppliedEvent) -> None:
        await self._escrow.notify(self._pending.pop(applied.webhook_id, []))

    async def _react(self, session: AsyncSession, applied: AppliedEvent, order_id: str) -> list[Change]:
        escrow = await escrow_repo.get(session=session, order_id=order_id, fresh=True)
        assert escrow is not None
        state, event_type = State(escrow.state), applied.event.type
        if await escrow_repo.event_recorded(session=session, order_id=order_id, source_event_id=applied.webhook_id):
            return []  # a replay: this event already did what it does
        if applied.outcome is Outcome.TERMS_LOCKED:
            return await self._flag(session, order_id, state, _TERMS_FLAG, applied.webhook_id)
        plan: list[Action] = []
        if event_type == "order.delivered":
            plan = [Action.DELIVER]
        elif event_type == "order.completed":
            plan = [Action.DELIVER, Action.APPROVE] if state is State.FUNDED else [Action.APPROVE]
            if escrow.approved_at is not None:
                plan = [a for a in plan if a is not Action.APPROVE]
        elif event_type == "order.cancelled":
            plan = [Action.CANCEL]
        if plan and rule_for(plan[0], state) is not None:
            return [await self._apply(session, order_id, action, applied.webhook_id) for action in plan]
        if event_type == "order.cancelled" and not state.terminal:
            return await self._flag(session, order_id, state, _CANCEL_FLAG, applied.webhook_id)
        if (text := _FLAGS.get((event_type, state))) is not None:
            return await self._flag(session, order_id, state, text, applied.webhook_id)
        return []

    async def _apply(self, session: AsyncSession, order_id: str, action: Action, event_id: str) -> Change:
        return await self._escrow.apply_in(
            session, order_id, action, actor=MARKETPLACE, role=Role.MARKETPLACE, source_event_id=event_id
        )

    async def _flag(self, session: AsyncSession, order_id: str, state: State, text: str, event_id: str) -> list[Change]:
        await escrow_repo.set_flag(session=session, order_id=order_id, flag=text)
        record = audit.Record(order_id, Action.FLAG, MARKETPLACE, Role.MARKETPLACE, state, state, text, event_id)
        entry = await audit.append(session=session, record=record)
        escrow = await escrow_repo.get(session=session, order_id=order_id, fresh=True)
        version = escrow.version if escrow is not None else 0
        return [
            Change(
                order_id, Action.FLAG, MARKETPLACE, Role.MARKETPLACE, state, state, version, text, event_id, entry.seq
            )
        ]
