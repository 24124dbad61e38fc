"""The service, not only the buttons, decides who is a party: a claimed buyer or freelancer
role counts only for the Discord ids on the order's ticket."""

from __future__ import annotations

import pytest

from bot.db.models import Ticket
from bot.services.errors import PermissionDeniedError
from bot.services.escrow.rules import Action, Role, State
from tests.services.escrow.escrow_support import BUYER, FREELANCER, OFFICER, Sessions, make_world


@pytest.fixture
def world(sessions: Sessions):
    return make_world(sessions)


async def set_ticket(world, **values: object) -> None:
    async with world.sessions.begin() as session:
        ticket = await session.get(Ticket, (await world.ticket()).id)
        if not values:
            await session.delete(ticket)
        for name, value in values.items():
            setattr(ticket, name, value)


async def test_without_a_ticket_nobody_acts_as_a_party(world) -> None:
    await world.order()
    await world.escrow.act("ord_1", Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="PAY-1")
    await set_ticket(world)  # no flow removes a ticket row today; the service still trusts no claimed role
    with pytest.raises(PermissionDeniedError):
        await world.escrow.act("ord_1", Action.DELIVER, actor_id=FREELANCER, actor_role=Role.FREELANCER)
    with pytest.raises(PermissionDeniedError):
        await world.escrow.act("ord_1", Action.DISPUTE, actor_id=BUYER, actor_role=Role.BUYER, note="late")
    assert (await world.state()).state == State.FUNDED
    assert [e.action for e in await world.entries()] == ["fund"]


async def test_a_buyer_whose_join_was_given_back_is_not_the_buyer(world) -> None:
    await world.order()
    await world.escrow.act("ord_1", Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="PAY-1")
    await set_ticket(world, buyer_id=None)  # what a join leaves when adding them to the channel failed
    with pytest.raises(PermissionDeniedError):
        await world.escrow.act("ord_1", Action.DISPUTE, actor_id=BUYER, actor_role=Role.BUYER, note="late")
    assert (await world.state()).state == State.FUNDED
