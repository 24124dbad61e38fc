"""Races between a freelancer's open and the marketplace's agreement, between two opens of one person, and
between a buyer's join and an officer's action: each interleaving ends in a state someone can act on."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from bot.db.models import RequestState, Ticket, TicketRequest, TicketState
from bot.db.repos import escrow as escrow_repo
from bot.db.repos import orders as order_repo
from bot.db.repos import requests as request_repo
from bot.db.repos import tickets as ticket_repo
from bot.services.errors import PermissionDeniedError
from bot.services.escrow.results import SeparationOfDutiesError
from bot.services.escrow.rules import Action, Role
from bot.services.escrow.service import EscrowService
from bot.services.tickets.service import OpenStatus
from tests.services.helpers import store
from tests.services.tickets.test_service import agree, all_tickets, open_, work_effects
from tests.webhooks.events import agreed


async def requests_of(sessions) -> list[TicketRequest]:
    async with sessions() as session:
        return list((await session.scalars(select(TicketRequest))).all())


async def test_an_agreement_committed_between_the_opens_read_and_its_write_is_seen(
    sessions, processor, service, opener, monkeypatch: pytest.MonkeyPatch
):
    """The open reads "no order", the agreement commits (finding no request yet), then the open saves its
    request: before, it waited 72 hours for an agreement that had come. Now the open sees it and opens."""
    await store(sessions, "msg_ord_1", agreed("ord_1"))
    read = order_repo.for_gig
    calls = 0

    async def read_then_agreement(**kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        rows = await read(**kwargs)
        if calls == 1:  # the open's first look: nothing; now the marketplace's agreement is processed
            assert rows == []
            await processor.process_due()
        return rows

    monkeypatch.setattr(order_repo, "for_gig", read_then_agreement)
    result = await open_(service)
    await work_effects(processor)
    assert result.status is OpenStatus.OPENED and len(opener.cards) == 1
    (ticket,) = await all_tickets(sessions)
    assert ticket.state == TicketState.OPEN
    assert await requests_of(sessions) == []  # nothing left waiting


async def test_an_agreement_processed_while_a_request_is_saved_resolves_it(
    sessions, processor, service, opener, monkeypatch: pytest.MonkeyPatch
):
    """The other interleaving: the request is being saved while the agreement's transaction runs."""
    await store(sessions, "msg_ord_1", agreed("ord_1"))
    keep = request_repo.keep_pending
    agreement: list[asyncio.Task[int]] = []

    async def save_during_agreement(**kwargs: Any) -> Any:
        saved = await keep(**kwargs)
        agreement.append(asyncio.create_task(processor.process_due()))
        await asyncio.sleep(0.05)  # the agreement runs now (on PostgreSQL it waits for the gig)
        return saved

    monkeypatch.setattr(request_repo, "keep_pending", save_during_agreement)
    result = await open_(service)
    await agreement[0]
    while await processor.process_due():
        pass
    await work_effects(processor)
    (ticket,) = await all_tickets(sessions)
    assert ticket.state == TicketState.OPEN and len(opener.cards) == 1
    requests = await requests_of(sessions)
    assert result.status in (OpenStatus.OPENED, OpenStatus.PENDING)
    assert all(r.state != RequestState.PENDING for r in requests)  # none stranded
    if result.status is OpenStatus.PENDING:  # it waited, and was told when the ticket opened
        (told,) = [n[1] for n in opener.notices]
        assert "order ord_1: its ticket is open" in told and "/guarantee join order_id:ord_1" in told


async def test_two_opens_by_one_person_at_once_keep_one_request(sessions, service):
    results = await asyncio.gather(*(open_(service) for _ in range(5)))
    assert {r.status for r in results} == {OpenStatus.PENDING}
    (request,) = await requests_of(sessions)
    assert request.state == RequestState.PENDING


async def test_a_lost_claim_race_whose_winner_gave_up_says_so(sessions, processor, service, monkeypatch):
    """Two opens claim one order; the winner's channel cannot be made and its claim is undone: the loser is
    told to try again (before, an assertion failed)."""
    await agree(sessions, processor)

    async def not_found(**_kwargs: Any) -> None:
        return None

    monkeypatch.setattr(ticket_repo, "for_order", not_found)
    with pytest.raises(Exception, match="could not be opened just now"):
        await service._raced("ord_1", 8, 5)


@pytest.mark.parametrize("first", ["join", "officer"])
async def test_one_person_cannot_be_the_buyer_and_an_officer_when_the_two_race(
    sessions, processor, service, opener, monkeypatch: pytest.MonkeyPatch, first: str
):
    """OFFICER claims the order as an officer while joining as its buyer: exactly one of the two succeeds."""
    await agree(sessions, processor)
    await open_(service)
    escrow = EscrowService(sessions)
    cas = escrow_repo.compare_and_set
    joined = asyncio.Event()

    async def officer_decides_then_waits(**kwargs: Any) -> bool:
        if first == "join":  # the officer read the ticket (no buyer yet); the join commits before its write
            await asyncio.wait_for(joined.wait(), 5)
        return await cas(**kwargs)

    monkeypatch.setattr(escrow_repo, "compare_and_set", officer_decides_then_waits)

    async def join() -> Any:
        try:
            return await service.join(guild_id=1, user_id=4242, order_id="ord_1", email="buyer@example.com")
        finally:
            joined.set()

    async def claim() -> Any:
        return await escrow.act("ord_1", Action.CLAIM, actor_id=4242, actor_role=Role.OFFICER)

    if first == "join":
        outcomes = await asyncio.gather(claim(), join(), return_exceptions=True)
    else:
        claimed = await claim()
        outcomes = [claimed, *(await asyncio.gather(join(), return_exceptions=True))]
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert len(errors) == 1, outcomes
    assert isinstance(errors[0], SeparationOfDutiesError | PermissionDeniedError)
    async with sessions() as session:
        ticket = (await session.scalars(select(Ticket))).one()
    officer_acted = not isinstance(outcomes[0], Exception)
    assert (ticket.buyer_id == 4242) is not officer_acted
    assert (ticket.claimed_by == 4242) is officer_acted
