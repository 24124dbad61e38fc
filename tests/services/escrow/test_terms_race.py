"""New terms and a payment confirmation at the same moment: the payment is held on the terms it was confirmed
for, or the new terms apply and the confirmation (opened on the old ones) is refused, never both."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from sqlalchemy import select

from bot.db.models import Order
from bot.services.errors import ConflictError
from bot.services.escrow import audit
from bot.services.escrow.rules import Action, Role, State
from bot.services.events.order_book import Outcome
from tests.services.escrow.escrow_support import OFFICER, Sessions, make_world
from tests.webhooks.events import event, terms

ROUNDS = 8


async def test_a_payment_confirmed_while_new_terms_arrive_is_for_exactly_one_set_of_terms(sessions: Sessions) -> None:
    world = make_world(sessions)
    for n in range(ROUNDS):
        order_id = f"ord_{n}"
        await world.order(order_id)
        seen = (await world.state(order_id)).version
        update = event("order.updated", terms(order_id, amount="9999.00", agreed_at="2026-11-25T11:00:00+00:00"))

        confirm = world.escrow.act(
            order_id, Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="PAY", expected_version=seen
        )
        funded, applied = await asyncio.gather(confirm, world.deliver_event(update), return_exceptions=True)
        assert not isinstance(applied, BaseException), applied
        async with sessions() as session:
            amount = (await session.scalars(select(Order.amount).where(Order.id == order_id))).one()  # type: ignore[call-overload]
        escrow = await world.state(order_id)
        if isinstance(funded, BaseException):  # the new terms came first: the confirmation was on the old ones
            assert isinstance(funded, ConflictError) and "terms changed" in str(funded), funded
            assert (applied.outcome, escrow.state, amount) == (Outcome.TERMS_APPLIED, State.AWAITING_FUNDING, 9999)
        else:  # the payment came first: it is held for 120.50, and the new terms are flagged, not applied
            assert (applied.outcome, escrow.state, amount) == (Outcome.TERMS_LOCKED, State.FUNDED, Decimal("120.50"))
    async with sessions() as session:
        assert (await audit.verify(session=session)).ok
