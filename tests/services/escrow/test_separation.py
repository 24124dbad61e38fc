"""Separation of duties before the buyer is known: an officer who is the order's buyer cannot
confirm its funding before joining, and whoever acted as officer on an order cannot join it as
its buyer afterwards. Service level: the escrow service and the ticket service's `join`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from bot.db.models import Ticket, TicketState
from bot.services.errors import GuaranteeError, PermissionDeniedError
from bot.services.escrow.results import BuyerNotJoinedError, SeparationOfDutiesError
from bot.services.escrow.rules import Action, Role, State
from bot.services.tickets.port import TicketCard, TicketChannel
from bot.services.tickets.service import TicketService
from tests.services.escrow.escrow_support import (
    BUYER,
    FREELANCER,
    GUILD,
    OFFICER,
    OFFICER_2,
    Sessions,
    actor,
    make_world,
)

EMAIL = "buyer@example.com"  # the buyer email of `agreed()`


class Opener:
    """The Discord side in memory; `during_add` runs while the buyer is being added (then may fail)."""

    def __init__(self) -> None:
        self.added: list[int] = []
        self.during_add: Callable[[], Awaitable[None]] | None = None
        self.fail_add: GuaranteeError | None = None

    async def create_channel(self, card: TicketCard) -> TicketChannel:
        raise AssertionError("not used")

    async def channel_exists(self, guild_id: int, channel_id: int) -> bool:
        return True

    async def add_member(self, ticket: Ticket, user_id: int, *, announce: bool = True) -> None:
        if self.during_add is not None:
            await self.during_add()
        if self.fail_add is not None:
            raise self.fail_add
        self.added.append(user_id)

    async def notify(self, **_: object) -> None:
        pass


@pytest.fixture
def world(sessions: Sessions):
    return make_world(sessions)


@pytest.fixture
def opener() -> Opener:
    return Opener()


@pytest.fixture
def tickets(sessions: Sessions, opener: Opener) -> TicketService:
    service = TicketService(sessions, marketplace_host="opentaskai.com", pending_hours=72)
    service.attach(opener)
    return service


async def open_order(world) -> None:
    """An agreed order whose ticket channel is open, with the freelancer in it and no buyer yet."""
    await world.order(ticket=False)
    async with world.sessions.begin() as session:
        session.add(
            Ticket(order_id="ord_1", guild_id=GUILD, freelancer_id=FREELANCER, state=TicketState.OPEN, channel_id=77)
        )


async def test_an_officer_cannot_confirm_funding_before_the_buyer_joined(world, tickets) -> None:
    await open_order(world)
    # OFFICER may well be the buyer: nothing can tell until the buyer verified their email.
    with pytest.raises(BuyerNotJoinedError, match="has not joined"):
        await world.escrow.act("ord_1", Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="PAY-1")
    with pytest.raises(BuyerNotJoinedError):  # the buttons ask first: no form is shown either
        await world.escrow.click("ord_1", Action.FUND, actor(OFFICER, officer=True))
    assert (await world.state()).state == State.AWAITING_FUNDING
    assert await world.entries() == []

    await tickets.join(guild_id=GUILD, user_id=BUYER, order_id="ord_1", email=EMAIL)
    await world.escrow.act("ord_1", Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="PAY-1")
    assert (await world.state()).state == State.FUNDED


async def test_with_no_ticket_nobody_confirms_funding(world) -> None:
    await world.order(ticket=False)
    with pytest.raises(BuyerNotJoinedError):
        await world.escrow.act("ord_1", Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="PAY-1")
    assert (await world.state()).state == State.AWAITING_FUNDING


async def test_the_buyer_who_joined_cannot_confirm_their_own_funding(world, tickets) -> None:
    await open_order(world)
    await tickets.join(guild_id=GUILD, user_id=OFFICER, order_id="ord_1", email=EMAIL)  # an officer, and the buyer
    with pytest.raises(SeparationOfDutiesError, match="party"):
        await world.escrow.act("ord_1", Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="PAY-1")
    await world.escrow.act("ord_1", Action.FUND, actor_id=OFFICER_2, actor_role=Role.OFFICER, note="PAY-1")
    assert (await world.state()).state == State.FUNDED


@pytest.mark.parametrize("action", [Action.CLAIM, Action.CANCEL])
async def test_whoever_acted_as_officer_cannot_join_as_the_buyer(world, tickets, opener, action) -> None:
    await open_order(world)
    await world.escrow.act("ord_1", action, actor_id=OFFICER, actor_role=Role.OFFICER)
    with pytest.raises(PermissionDeniedError, match="acted as a Guarantor Officer on order ord_1"):
        await tickets.join(guild_id=GUILD, user_id=OFFICER, order_id="ord_1", email=EMAIL)
    assert (await world.ticket()).buyer_id is None and opener.added == []
    if action is Action.CLAIM:  # the real buyer, on another account, still joins
        await tickets.join(guild_id=GUILD, user_id=BUYER, order_id="ord_1", email=EMAIL)
        assert (await world.ticket()).buyer_id == BUYER and opener.added == [BUYER]


async def test_an_officer_who_funded_while_a_join_failed_cannot_take_the_buyers_place(world, tickets, opener) -> None:
    """A join claims the buyer before adding them to the channel and gives the place back if that
    fails: an officer who funded in between must not become the buyer with that free place."""
    await open_order(world)

    async def fund_meanwhile() -> None:
        opener.during_add = None
        await world.escrow.act("ord_1", Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="PAY-1")

    opener.during_add, opener.fail_add = fund_meanwhile, GuaranteeError("I need the Manage Roles permission.")
    with pytest.raises(GuaranteeError, match="Manage Roles"):
        await tickets.join(guild_id=GUILD, user_id=BUYER, order_id="ord_1", email=EMAIL)
    assert (await world.state()).state == State.FUNDED and (await world.ticket()).buyer_id is None

    opener.fail_add = None
    with pytest.raises(PermissionDeniedError, match="acted as a Guarantor Officer"):
        await tickets.join(guild_id=GUILD, user_id=OFFICER, order_id="ord_1", email=EMAIL)
    await tickets.join(guild_id=GUILD, user_id=BUYER, order_id="ord_1", email=EMAIL)
    assert (await world.ticket()).buyer_id == BUYER
