"""Marketplace events drive the escrow as actor `marketplace`, idempotently."""

from __future__ import annotations

import pytest

from bot.services.escrow.results import NoteRequiredError
from bot.services.escrow.rules import Action, Role, State
from bot.services.events.order_book import Outcome
from tests.services.escrow.escrow_support import BUYER, FREELANCER, OFFICER, Sessions, make_world
from tests.webhooks.events import event, terms


@pytest.fixture
def world(sessions: Sessions):
    return make_world(sessions)


async def fund(world, order_id: str = "ord_1") -> None:
    await world.escrow.act(order_id, Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="PAY-9")


async def test_order_delivered_moves_funded_to_delivered_once(world) -> None:
    await world.order()
    await fund(world)
    await world.fact("order.delivered", "ord_1", "evt_d")
    escrow = await world.state()
    assert escrow.state == State.DELIVERED
    [entry] = [e for e in await world.entries() if e.action == "deliver"]
    assert (entry.actor, entry.role, entry.source_event_id) == ("marketplace", "marketplace", "evt_d")
    version = escrow.version
    await world.fact("order.delivered", "ord_1", "evt_d")  # the same event again: nothing changes
    assert (await world.state()).version == version
    assert len(await world.entries()) == 2


async def test_order_completed_after_delivery_records_acceptance_so_release_needs_no_override(world) -> None:
    await world.order()
    await fund(world)
    await world.fact("order.delivered", "ord_1", "evt_d")
    await world.fact("order.completed", "ord_1", "evt_c")
    escrow = await world.state()
    assert (escrow.state, escrow.approved_by) == (State.DELIVERED, "marketplace")
    assert [e.action for e in await world.entries()] == ["fund", "deliver", "approve"]
    change = await world.escrow.act("ord_1", Action.RELEASE, actor_id=OFFICER, actor_role=Role.OFFICER)
    assert change.target is State.RELEASED  # no override reason needed


async def test_order_completed_while_funded_is_flagged_and_never_counts_as_approval(world) -> None:
    await world.order()
    await fund(world)
    await world.fact("order.completed", "ord_1", "evt_c")
    escrow = await world.state()
    assert (escrow.state, escrow.approved_at) == (State.FUNDED, None)  # not delivered, not approved
    assert "does not count as the buyer's approval" in (escrow.flag or "")
    flag = (await world.entries())[-1]
    assert (flag.action, flag.from_state, flag.to_state, flag.source_event_id) == ("flag", "funded", "funded", "evt_c")
    await world.escrow.act("ord_1", Action.DELIVER, actor_id=FREELANCER, actor_role=Role.FREELANCER)
    assert (await world.state()).approved_at is None
    with pytest.raises(NoteRequiredError):  # releasing still needs the buyer's approval or a written override
        await world.escrow.act("ord_1", Action.RELEASE, actor_id=OFFICER, actor_role=Role.OFFICER)


async def test_order_completed_before_funding_never_counts_as_approval(world) -> None:
    await world.order()
    await world.fact("order.completed", "ord_1", "evt_c")  # before funding: flagged, recorded on the order
    assert (await world.state()).flag is not None
    await fund(world)
    await world.escrow.act("ord_1", Action.DELIVER, actor_id=FREELANCER, actor_role=Role.FREELANCER)
    escrow = await world.state()
    assert (escrow.state, escrow.approved_at) == (State.DELIVERED, None)
    with pytest.raises(NoteRequiredError):
        await world.escrow.act("ord_1", Action.RELEASE, actor_id=OFFICER, actor_role=Role.OFFICER)
    change = await world.escrow.act("ord_1", Action.RELEASE, actor_id=OFFICER, actor_role=Role.OFFICER,
                                    note="buyer confirmed in the ticket")  # fmt: skip
    assert change.target is State.RELEASED


async def test_order_completed_again_after_delivery_approves(world) -> None:
    await world.order()
    await fund(world)
    await world.fact("order.completed", "ord_1", "evt_c1")  # early: flagged
    await world.fact("order.delivered", "ord_1", "evt_d")
    assert (await world.state()).approved_at is None
    await world.fact("order.completed", "ord_1", "evt_c2")  # after delivery: the buyer's approval
    escrow = await world.state()
    assert escrow.approved_by == "marketplace"
    assert [e.action for e in await world.entries()] == ["fund", "flag", "deliver", "approve"]


async def test_order_completed_never_releases_by_itself(world) -> None:
    await world.order()
    await fund(world)
    await world.fact("order.delivered", "ord_1")
    await world.fact("order.completed", "ord_1")
    assert (await world.state()).state == State.DELIVERED


async def test_order_cancelled_before_funding_cancels(world) -> None:
    await world.order()
    await world.fact("order.cancelled", "ord_1", "evt_x")
    assert (await world.state()).state == State.CANCELLED
    assert [c.action for c in world.heard] == [Action.CANCEL]


async def test_order_cancelled_after_funding_is_recorded_and_flagged_not_applied(world) -> None:
    await world.order()
    await fund(world)
    await world.fact("order.cancelled", "ord_1", "evt_x")
    escrow = await world.state()
    assert escrow.state == State.FUNDED
    assert "cancelled on the marketplace" in (escrow.flag or "")
    flag = (await world.entries())[-1]
    assert (flag.action, flag.from_state, flag.to_state, flag.source_event_id) == ("flag", "funded", "funded", "evt_x")
    assert world.heard[-1].action is Action.FLAG
    await world.fact("order.cancelled", "ord_1", "evt_x")  # replayed: no second flag
    assert len(await world.entries()) == 2


async def test_terms_are_frozen_once_funded_and_the_update_is_flagged(world) -> None:
    await world.order()
    updated = event("order.updated", terms("ord_1", amount="999.00", agreed_at="2026-11-25T11:00:00+00:00"))
    applied = await world.deliver_event(updated, "evt_u1")
    assert applied.outcome is Outcome.TERMS_APPLIED  # before funding terms may change
    await fund(world)
    later = event("order.updated", terms("ord_1", amount="5.00", agreed_at="2026-11-25T12:00:00+00:00"))
    applied = await world.deliver_event(later, "evt_u2")
    assert applied.outcome is Outcome.TERMS_LOCKED
    assert str(applied.order.amount) == "999.00"
    assert "New terms arrived after the payment was put in escrow" in ((await world.state()).flag or "")
    assert (await world.entries())[-1].source_event_id == "evt_u2"


async def test_delivered_event_in_a_state_it_does_not_fit_changes_no_state(world) -> None:
    await world.order()
    await fund(world)
    await world.escrow.act("ord_1", Action.DISPUTE, actor_id=BUYER, actor_role=Role.BUYER, note="late")
    await world.fact("order.delivered", "ord_1")
    assert (await world.state()).state == State.DISPUTED
