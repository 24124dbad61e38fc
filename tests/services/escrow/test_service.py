"""The escrow state machine through its service, on a real database."""

from __future__ import annotations

import pytest

from bot.db.models import Ticket
from bot.services.errors import ConflictError, NotFoundError, PermissionDeniedError
from bot.services.escrow.results import (
    AlreadyDoneError,
    BuyerNotJoinedError,
    Change,
    ConfirmNeeded,
    InvalidTransitionError,
    NoteNeeded,
    NoteRequiredError,
    SeparationOfDutiesError,
)
from bot.services.escrow.rules import Action, Role, State
from tests.services.escrow.escrow_support import (
    BUYER,
    FREELANCER,
    GUILD,
    OFFICER,
    OFFICER_2,
    OUTSIDER,
    Sessions,
    actor,
    make_world,
)


@pytest.fixture
def world(sessions: Sessions):
    return make_world(sessions)


async def funded(world, order_id: str = "ord_1") -> str:
    await world.order(order_id)
    await world.escrow.act(order_id, Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="PAY-1")
    return order_id


async def test_a_new_order_opens_its_escrow_awaiting_funding(world) -> None:
    await world.order()
    escrow = await world.state()
    assert (escrow.state, escrow.version) == (State.AWAITING_FUNDING, 0)
    assert await world.entries() == []


async def test_the_happy_path_ends_released_with_one_audit_entry_per_step(world) -> None:
    await funded(world)
    await world.escrow.act("ord_1", Action.DELIVER, actor_id=FREELANCER, actor_role=Role.FREELANCER)
    await world.escrow.act("ord_1", Action.APPROVE, actor_id=BUYER, actor_role=Role.BUYER)
    change = await world.escrow.act("ord_1", Action.RELEASE, actor_id=OFFICER, actor_role=Role.OFFICER)
    assert (change.source, change.target, change.version) == (State.DELIVERED, State.RELEASED, 4)
    escrow = await world.state()
    assert (escrow.state, escrow.payment_reference, escrow.approved_by) == ("released", "PAY-1", str(BUYER))
    steps = [(e.action, e.actor, e.role, e.from_state, e.to_state) for e in await world.entries()]
    assert steps == [
        ("fund", str(OFFICER), "officer", "awaiting_funding", "funded"),
        ("deliver", str(FREELANCER), "freelancer", "funded", "delivered"),
        ("approve", str(BUYER), "buyer", "delivered", "delivered"),
        ("release", str(OFFICER), "officer", "delivered", "released"),
    ]
    assert [c.action for c in world.heard] == [Action.FUND, Action.DELIVER, Action.APPROVE, Action.RELEASE]


async def test_funding_needs_a_payment_reference_and_loses_nothing_without_one(world) -> None:
    await world.order()
    with pytest.raises(NoteRequiredError, match="payment reference"):
        await world.escrow.act("ord_1", Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="   ")
    assert (await world.state()).state == State.AWAITING_FUNDING
    assert await world.entries() == []


async def test_a_note_over_the_limit_is_refused(world) -> None:
    await world.order()
    with pytest.raises(NoteRequiredError, match="too long"):
        await world.escrow.act("ord_1", Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="x" * 1001)


async def test_release_without_approval_needs_a_written_override_reason(world) -> None:
    await funded(world)
    await world.escrow.act("ord_1", Action.DELIVER, actor_id=FREELANCER, actor_role=Role.FREELANCER)
    with pytest.raises(NoteRequiredError, match="override reason"):
        await world.escrow.act("ord_1", Action.RELEASE, actor_id=OFFICER, actor_role=Role.OFFICER)
    change = await world.escrow.act(
        "ord_1", Action.RELEASE, actor_id=OFFICER, actor_role=Role.OFFICER, note="buyer confirmed by mail"
    )
    assert change.note == "buyer confirmed by mail"


@pytest.mark.parametrize(
    ("actor", "role", "action", "error"),
    [
        (FREELANCER, Role.FREELANCER, Action.FUND, PermissionDeniedError),
        (BUYER, Role.BUYER, Action.FUND, PermissionDeniedError),
        (OUTSIDER, Role.OUTSIDER, Action.FUND, PermissionDeniedError),
        (OUTSIDER, Role.OUTSIDER, Action.CANCEL, PermissionDeniedError),
        (OUTSIDER, Role.MARKETPLACE, Action.CANCEL, PermissionDeniedError),
        (FREELANCER, Role.OFFICER, Action.FUND, SeparationOfDutiesError),
        (BUYER, Role.OFFICER, Action.CANCEL, SeparationOfDutiesError),
    ],
)
async def test_who_may_not_act_gets_a_reason_and_nothing_changes(world, actor, role, action, error) -> None:
    await world.order()
    with pytest.raises(error) as raised:
        await world.escrow.act("ord_1", action, actor_id=actor, actor_role=role, note="a note")
    assert str(raised.value)
    assert (await world.state()).version == 0
    assert await world.entries() == []


async def test_an_officer_who_is_a_party_never_moves_money(world) -> None:
    await funded(world)
    for action in (Action.REFUND, Action.RELEASE):
        with pytest.raises((SeparationOfDutiesError, InvalidTransitionError)):
            await world.escrow.act("ord_1", action, actor_id=FREELANCER, actor_role=Role.OFFICER, note="mine")
    with pytest.raises(SeparationOfDutiesError, match="party"):
        await world.escrow.act("ord_1", Action.REFUND, actor_id=BUYER, actor_role=Role.OFFICER, note="mine")
    assert (await world.state()).state == State.FUNDED


async def test_claiming_a_party_role_one_does_not_hold_is_refused(world) -> None:
    await funded(world)
    with pytest.raises(PermissionDeniedError, match="freelancer"):
        await world.escrow.act("ord_1", Action.DELIVER, actor_id=OUTSIDER, actor_role=Role.FREELANCER)
    with pytest.raises(PermissionDeniedError, match="buyer"):
        await world.escrow.act("ord_1", Action.DISPUTE, actor_id=FREELANCER, actor_role=Role.BUYER, note="x")
    assert (await world.state()).state == State.FUNDED


async def test_funding_waits_for_the_buyer_to_join(world) -> None:
    await world.order("ord_2", buyer_joined=False)
    with pytest.raises(BuyerNotJoinedError, match="buyer has not joined"):
        await world.escrow.act("ord_2", Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="P")
    assert (await world.state("ord_2")).state == State.AWAITING_FUNDING
    async with world.sessions.begin() as session:
        (await session.get(Ticket, (await world.ticket("ord_2")).id)).buyer_id = BUYER  # they joined
    await world.escrow.act("ord_2", Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="P")
    assert (await world.state("ord_2")).state == State.FUNDED


async def test_disputes_need_a_reason_and_resolution_needs_a_written_resolution(world) -> None:
    await funded(world)
    with pytest.raises(NoteRequiredError, match="reason"):
        await world.escrow.act("ord_1", Action.DISPUTE, actor_id=BUYER, actor_role=Role.BUYER)
    await world.escrow.act("ord_1", Action.DISPUTE, actor_id=BUYER, actor_role=Role.BUYER, note="nothing arrived")
    with pytest.raises(NoteRequiredError, match="resolution"):
        await world.escrow.act("ord_1", Action.REFUND, actor_id=OFFICER, actor_role=Role.OFFICER)
    change = await world.escrow.act(
        "ord_1", Action.REFUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="no delivery proven"
    )
    assert (change.source, change.target) == (State.DISPUTED, State.REFUNDED)


async def test_terminal_states_are_final(world) -> None:
    await funded(world)
    await world.escrow.act("ord_1", Action.REFUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="gone")
    with pytest.raises(AlreadyDoneError, match="already refunded"):
        await world.escrow.act("ord_1", Action.REFUND, actor_id=OFFICER_2, actor_role=Role.OFFICER, note="again")
    for action in (Action.RELEASE, Action.DISPUTE, Action.DELIVER, Action.CLAIM, Action.CANCEL):
        with pytest.raises(InvalidTransitionError, match="final"):
            await world.escrow.act("ord_1", action, actor_id=OFFICER_2, actor_role=Role.OFFICER, note="n")
    assert (await world.state()).state == State.REFUNDED


async def test_a_stale_expected_version_is_refused_with_the_current_state(world) -> None:
    await funded(world)
    with pytest.raises(Exception, match="changed since you looked"):
        await world.escrow.act(
            "ord_1", Action.REFUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="x", expected_version=0
        )
    change = await world.escrow.act(
        "ord_1", Action.REFUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="x", expected_version=1
    )
    assert change.version == 2


async def test_approval_is_recorded_once(world) -> None:
    await funded(world)
    await world.escrow.act("ord_1", Action.DELIVER, actor_id=FREELANCER, actor_role=Role.FREELANCER)
    await world.escrow.act("ord_1", Action.APPROVE, actor_id=BUYER, actor_role=Role.BUYER)
    with pytest.raises(AlreadyDoneError, match="approval"):
        await world.escrow.act("ord_1", Action.APPROVE, actor_id=BUYER, actor_role=Role.BUYER)


async def test_claim_records_the_officer_on_the_ticket_and_can_be_taken_over(world) -> None:
    await world.order()
    await world.escrow.act("ord_1", Action.CLAIM, actor_id=OFFICER, actor_role=Role.OFFICER)
    assert (await world.ticket()).claimed_by == OFFICER
    with pytest.raises(AlreadyDoneError, match="already claimed"):
        await world.escrow.act("ord_1", Action.CLAIM, actor_id=OFFICER, actor_role=Role.OFFICER)
    # A second officer no longer takes it over by claiming: that is its own action, which names the first.
    with pytest.raises(ConflictError, match=f"<@{OFFICER}> already claimed this ticket.*Take over"):
        await world.escrow.act("ord_1", Action.CLAIM, actor_id=OFFICER_2, actor_role=Role.OFFICER)
    assert (await world.ticket()).claimed_by == OFFICER
    taken = await world.escrow.act("ord_1", Action.TAKE_OVER, actor_id=OFFICER_2, actor_role=Role.OFFICER)
    assert (await world.ticket()).claimed_by == OFFICER_2 and taken.replaced == OFFICER
    assert (await world.state()).state == State.AWAITING_FUNDING
    assert [(e.action, e.actor, e.role) for e in await world.entries()][-1] == ("take_over", str(OFFICER_2), "officer")
    with pytest.raises(SeparationOfDutiesError):
        await world.escrow.act("ord_1", Action.CLAIM, actor_id=FREELANCER, actor_role=Role.OFFICER)
    with pytest.raises(SeparationOfDutiesError):
        await world.escrow.act("ord_1", Action.TAKE_OVER, actor_id=FREELANCER, actor_role=Role.OFFICER)


async def test_an_unknown_order_is_not_found(world) -> None:
    with pytest.raises(NotFoundError, match="ord_x"):
        await world.escrow.act("ord_x", Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="p")


async def test_people_cannot_act_as_the_marketplace(world) -> None:
    await world.order()
    with pytest.raises(PermissionDeniedError, match="marketplace"):
        await world.escrow.act("ord_1", Action.CANCEL, actor_id=OFFICER, actor_role=Role.MARKETPLACE)


async def test_callbacks_are_queued_in_the_transition_transaction_when_enabled(sessions: Sessions) -> None:
    world = make_world(sessions, callbacks_enabled=True)
    await funded(world)
    await world.escrow.act("ord_1", Action.CLAIM, actor_id=OFFICER_2, actor_role=Role.OFFICER)
    with pytest.raises(NoteRequiredError):
        await world.escrow.act("ord_1", Action.REFUND, actor_id=OFFICER, actor_role=Role.OFFICER)
    outbox = await world.outbox()
    assert [row.webhook_id for row in outbox] == ["esc_ord_1_1"]  # claims are not state changes; failures queue nothing
    assert '"to":"funded"' in outbox[0].body and '"type":"escrow.state_changed"' in outbox[0].body


async def test_no_callbacks_are_queued_when_disabled(world) -> None:
    await funded(world)
    assert await world.outbox() == []


async def test_a_click_says_which_note_is_needed_or_why_not_and_changes_nothing(world) -> None:
    await funded(world)
    asked = await world.escrow.click("ord_1", Action.REFUND, actor(OFFICER, officer=True))
    assert isinstance(asked, ConfirmNeeded) and asked.money == "120.50 USD" and asked.buyer_id == BUYER
    need = await world.escrow.confirm("ord_1", Action.REFUND, actor(OFFICER, officer=True), version=asked.version)
    assert isinstance(need, NoteNeeded) and need.note.value == "reason" and need.version == 1
    with pytest.raises(SeparationOfDutiesError):
        await world.escrow.click("ord_1", Action.REFUND, actor(BUYER, officer=True))
    with pytest.raises(InvalidTransitionError):
        await world.escrow.click("ord_1", Action.FUND, actor(OFFICER, officer=True))
    with pytest.raises(PermissionDeniedError, match="not part of order ord_1"):  # no officer role: an outsider
        await world.escrow.click("ord_1", Action.REFUND, actor(OFFICER))
    with pytest.raises(PermissionDeniedError):  # an officer of another server is nobody here
        await world.escrow.click("ord_1", Action.REFUND, actor(OFFICER, officer=True, guild_id=GUILD + 1))
    assert (await world.state()).version == 1
    done = await world.escrow.click("ord_1", Action.DELIVER, actor(FREELANCER))  # needs no note: done at once
    assert isinstance(done, Change) and done.target is State.DELIVERED


async def test_a_form_acts_only_on_the_version_it_was_opened_on(world) -> None:
    await funded(world)
    asked = await world.escrow.click("ord_1", Action.REFUND, actor(OFFICER, officer=True))
    assert isinstance(asked, ConfirmNeeded)
    need = await world.escrow.confirm("ord_1", Action.REFUND, actor(OFFICER, officer=True), version=asked.version)
    assert isinstance(need, NoteNeeded)
    await world.escrow.click("ord_1", Action.DELIVER, actor(FREELANCER))
    with pytest.raises(ConflictError, match="changed since you looked"):
        await world.escrow.submit("ord_1", Action.REFUND, actor(OFFICER, officer=True), note="x", version=need.version)
    change = await world.escrow.submit(
        "ord_1", Action.REFUND, actor(OFFICER, officer=True), note="late", version=need.version + 1
    )
    assert change.target is State.REFUNDED and change.ticket is not None and change.ticket.buyer_id == BUYER
