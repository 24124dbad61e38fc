"""PostgreSQL: a buyer joining while new terms that void the freelancer are applied never deadlocks. Every change
takes the escrow's row before the ticket's (the batch of events: its escrows at its read, then the ticket when the
seat is emptied; the join: its version bump, then the buyer's seat), so one waits for the other."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import pytest
from sqlalchemy import update
from sqlmodel import col

from bot.db.models import Ticket
from bot.db.repos import tickets as ticket_repo
from bot.services.events.processor import EventProcessor
from bot.services.tickets import joining
from tests.services.events.test_batch import prepare, store_all
from tests.services.helpers import order_book
from tests.webhooks.events import agreed, event, terms

PAUSE = 0.5  # a join held between its two writes, long enough for the batch to take what it takes


async def test_a_join_and_new_terms_voiding_the_freelancer_take_turns(database_url, sessions, monkeypatch, caplog):
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer: nothing to deadlock")
    caplog.set_level(logging.INFO, logger="bot.services.events.processor")
    processor = EventProcessor(sessions, order_book(sessions))
    await prepare(sessions, "j-")  # the seller's request waiting: a ticket when the order is agreed
    for event_id in await store_all(sessions, "j-", [("a0", agreed("j-0"))]):
        await processor.process_one(event_id)
    async with sessions.begin() as session:
        await session.execute(update(Ticket).where(col(Ticket.order_id) == "j-0").values(state="open", channel_id=7))
        ticket = await ticket_repo.for_order(session=session, order_id="j-0")
    assert ticket is not None
    new_seller = terms("j-0", seller={"email": "s2@example.com"}, agreed_at="2026-11-25T12:00:00Z")
    await store_all(sessions, "j-", [("u1", event("order.updated", new_seller))])

    def held_after(write):  # the join pauses after each of its writes, whichever it makes first
        async def paused(**kwargs):
            result = await write(**kwargs)
            await asyncio.sleep(PAUSE)
            return result

        return paused

    monkeypatch.setattr(joining.escrow_repo, "bump_version", held_after(joining.escrow_repo.bump_version))
    monkeypatch.setattr(joining.repo, "claim_buyer", held_after(joining.repo.claim_buyer))
    flow = SimpleNamespace(_sessions=sessions)

    async def terms_batch() -> int:
        await asyncio.sleep(PAUSE / 5)  # the join has made its first write
        return await processor.process_due()

    joined, applied = await asyncio.gather(
        joining.JoinFlow._claim_buyer(flow, ticket, "j-0", 20, proven=False),  # type: ignore[arg-type]
        terms_batch(),
        return_exceptions=True,
    )
    assert not isinstance(joined, BaseException), joined
    assert applied == 1
    assert "failed as a whole" not in caplog.text  # a deadlock victim's batch would be applied again one by one
    async with sessions() as session:
        after = await ticket_repo.for_order(session=session, order_id="j-0", fresh=True)
    assert after is not None and after.buyer_id == 20 and after.freelancer_unverified  # both changes landed
