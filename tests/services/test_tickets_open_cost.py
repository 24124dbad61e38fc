"""What one `/guarantee open` costs the database: the round trips of the usual path are counted,
so a redundant read or an extra transaction coming back fails here (docs/BENCHMARKS.md,
`bench/ticket_burst.py`). The same guarantees as before: one ticket per order, raced opens
point at the winner's ticket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.repos import tickets as repo
from bot.services.orders import OrderBook
from bot.services.processing import EventProcessor
from bot.services.tickets import OpenStatus, TicketService
from tests.services.test_tickets import RecordingOpener, agree, all_tickets, open_


@pytest.fixture
def opener() -> RecordingOpener:
    return RecordingOpener()


@pytest.fixture
def service(sessions, opener) -> TicketService:
    tickets = TicketService(sessions, marketplace_host="opentaskai.com", pending_hours=72)
    tickets.attach(opener)
    return tickets


@pytest.fixture
def processor(sessions, service) -> EventProcessor:
    book = OrderBook()
    book.add_hook(service.on_order_event)
    return EventProcessor(sessions, book)


@contextmanager
def recorded(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every statement sent to the database, and each COMMIT / ROLLBACK, in order."""
    seen: list[str] = []

    def on_execute(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        seen.append(statement.split(None, 1)[0].upper())

    def on_commit(_conn: object) -> None:
        seen.append("COMMIT")

    def on_rollback(_conn: object) -> None:
        seen.append("ROLLBACK")

    hooks: dict[str, Callable[..., Any]] = {
        "before_cursor_execute": on_execute,
        "commit": on_commit,
        "rollback": on_rollback,
    }
    for name, hook in hooks.items():
        event.listen(engine.sync_engine, name, hook)
    try:
        yield seen
    finally:
        for name, hook in hooks.items():
            event.remove(engine.sync_engine, name, hook)


async def test_an_open_is_one_read_one_claim_and_one_update(engine, sessions, processor, service, opener):
    await agree(sessions, processor)
    with recorded(engine) as seen:
        result = await open_(service)
    assert result.status is OpenStatus.OPENED and len(opener.cards) == 1
    # The order, its ticket and escrow state in one query; the claim in the same transaction;
    # after the channel is made, the compare-and-set to open. Nothing re-read.
    assert seen == ["SELECT", "INSERT", "COMMIT", "UPDATE", "COMMIT"]


async def test_the_card_shows_the_escrow_state_read_with_the_order(engine, sessions, processor, service, opener):
    await agree(sessions, processor)
    async with engine.begin() as connection:
        await connection.exec_driver_sql(
            "INSERT INTO escrows (order_id, state, version, created_at, updated_at) "
            "VALUES ('ord_1', 'funded', 3, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
    await open_(service)
    (card,) = opener.cards
    assert (card.order.id, card.escrow_state, card.ticket.state) == ("ord_1", "funded", "opening")


async def test_opens_racing_for_one_order_give_one_ticket_and_point_the_loser_at_it(
    sessions, processor, service, opener: RecordingOpener, monkeypatch: pytest.MonkeyPatch
):
    """Both opens read "no ticket yet" before either claims: the UNIQUE order_id decides."""
    await agree(sessions, processor)
    both_read = asyncio.Barrier(2)
    read = repo.orders_for_gig

    async def read_then_wait(**kwargs: Any) -> Any:
        rows = await read(**kwargs)
        await both_read.wait()
        return rows

    monkeypatch.setattr(repo, "orders_for_gig", read_then_wait)
    opener.delay = 0.05
    results = await asyncio.gather(open_(service, user_id=7), open_(service, user_id=8))
    (winner,) = [7 + i for i, result in enumerate(results) if result.status is OpenStatus.OPENED]
    (loser,) = [result for result in results if result.status is not OpenStatus.OPENED]
    assert (loser.status, loser.order_id) == (OpenStatus.OPENING, "ord_1")  # the winner is making the channel
    assert len(opener.cards) == 1
    (ticket,) = await all_tickets(sessions)
    assert (ticket.state, ticket.freelancer_id) == ("open", winner)
