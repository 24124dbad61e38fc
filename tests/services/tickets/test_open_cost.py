"""What one `/guarantee open` costs the database: the round trips of the usual path are counted,
so a redundant read or an extra transaction coming back fails here (docs/BENCHMARKS.md,
`bench/ticket_burst.py`). The same guarantees as before: one ticket per order, raced opens
point at the winner's ticket."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.db.models import Ticket
from bot.db.repos import orders as order_repo
from bot.services.events.contract import parse_event
from bot.services.tickets.service import OpenStatus, TicketService
from tests.services.helpers import order_book, store
from tests.services.tickets.test_service import RecordingOpener, agree, all_tickets, open_
from tests.webhooks.events import agreed


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
    # The failed checks of the person and of the gig (the lock-out limits) in one query; the order, its ticket
    # and escrow state in one query; the claim and its `ticket.open` effect (the intent, recorded before Discord
    # is called) and its unclaimed-ticket reminder (a timer) in the same transaction; after the channel is made,
    # the compare-and-set to open and the effect marked done, in one transaction. Nothing re-read.
    assert seen == ["SELECT", "SELECT", "INSERT", "INSERT", "INSERT", "COMMIT", "UPDATE", "UPDATE", "COMMIT"]


async def test_the_card_shows_the_escrow_state_read_with_the_order(engine, sessions, processor, service, opener):
    await agree(sessions, processor)
    async with engine.begin() as connection:
        await connection.exec_driver_sql("UPDATE escrows SET state = 'funded', version = 3 WHERE order_id = 'ord_1'")
    await open_(service)
    (card,) = opener.cards
    assert (card.order.id, card.escrow_state, card.ticket.state) == ("ord_1", "funded", "opening")


async def test_opens_racing_for_one_order_give_one_ticket_and_point_the_loser_at_it(
    sessions, processor, service, opener: RecordingOpener, monkeypatch: pytest.MonkeyPatch
):
    """Both opens read "no ticket yet" before either claims: the UNIQUE order_id decides."""
    await agree(sessions, processor)
    both_read = asyncio.Barrier(2)
    read = order_repo.for_gig

    async def read_then_wait(**kwargs: Any) -> Any:
        rows = await read(**kwargs)
        await both_read.wait()
        return rows

    monkeypatch.setattr(order_repo, "for_gig", read_then_wait)
    opener.delay = 0.05
    results = await asyncio.gather(open_(service, user_id=7), open_(service, user_id=8))
    (winner,) = [7 + i for i, result in enumerate(results) if result.status is OpenStatus.OPENED]
    (loser,) = [result for result in results if result.status is not OpenStatus.OPENED]
    assert (loser.status, loser.order_id) == (OpenStatus.OPENING, "ord_1")  # the winner is making the channel
    assert len(opener.cards) == 1
    (ticket,) = await all_tickets(sessions)
    assert (ticket.state, ticket.freelancer_id) == ("open", winner)


async def many_orders(sessions, processor, n: int) -> None:
    for i in range(n):
        await store(sessions, f"msg_many_{i}", agreed(f"ord_m{i}"))
    while await processor.process_due():
        pass


def open_order(service: TicketService, i: int):
    link = f"https://opentaskai.com/gigs/ord_m{i}-logo"
    return service.open(guild_id=1, user_id=100 + i, channel_id=5, email="seller@example.com", gig_link=link)


async def test_a_burst_of_opens_larger_than_the_pool_all_open(engine, sessions, processor, service, opener):
    """40 opens at once against a pool of 15 connections: none waits for a connection that a
    session waiting for its write turn holds (a deadlock ends in the pool's 30 s timeout)."""
    await many_orders(sessions, processor, 40)
    async with asyncio.timeout(20):
        results = await asyncio.gather(*(open_order(service, i) for i in range(40)))
    assert [r.status for r in results] == [OpenStatus.OPENED] * 40 and len(opener.cards) == 40


async def test_on_sqlite_concurrent_opens_write_one_at_a_time(engine, sessions, processor, service, opener):
    """SQLite has one writer: opens queue for it in the service, not in SQLite's busy handler
    (which sleeps up to 100 ms a try while holding a pooled connection)."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL writes rows concurrently")
    await many_orders(sessions, processor, 20)
    writing: set[int] = set()
    most = 0

    def on_execute(conn: Any, _cursor: object, statement: str, *_: object) -> None:
        nonlocal most
        if statement.split(None, 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}:
            writing.add(id(conn.connection.dbapi_connection))
            most = max(most, len(writing))

    def on_end(conn: Any) -> None:
        writing.discard(id(conn.connection.dbapi_connection))

    event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
    event.listen(engine.sync_engine, "commit", on_end)
    event.listen(engine.sync_engine, "rollback", on_end)
    try:
        results = await asyncio.gather(*(open_order(service, i) for i in range(20)))
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", on_execute)
        event.remove(engine.sync_engine, "commit", on_end)
        event.remove(engine.sync_engine, "rollback", on_end)
    assert [r.status for r in results] == [OpenStatus.OPENED] * 20
    assert most == 1


async def test_an_open_running_while_the_claimer_closes_its_session_makes_no_second_channel(engine, opener):
    """The claimer marks the order in flight as its commit returns, before any await: an open of the
    same order that runs in between (here: while the claimer's session closes) answers "opening"."""
    during_close: list[Callable[[], Awaitable[Any]]] = []

    class ClosingSlowly(AsyncSession):
        def add(self, instance: object, *, _warn: bool = True) -> None:
            if isinstance(instance, Ticket):
                self.info["claiming"] = True
            super().add(instance, _warn=_warn)

        async def commit(self) -> None:
            await super().commit()
            self.info["claimed"] = self.info.pop("claiming", False)

        async def close(self) -> None:
            if self.info.pop("claimed", False) and during_close:
                await during_close.pop()()
            await super().close()

    sessions = async_sessionmaker(engine, class_=ClosingSlowly, expire_on_commit=False)
    service = TicketService(sessions, marketplace_host="opentaskai.com", pending_hours=72)
    service.attach(opener)
    async with sessions() as session:  # the order, as an agreement makes it
        await order_book(sessions).apply(session, parse_event(agreed("ord_1")), "msg_ord_1")
        await session.commit()
    second: list[Any] = []

    async def open_second() -> None:
        second.append(await open_(service, user_id=8))

    during_close.append(open_second)
    first = await open_(service, user_id=7)
    assert (first.status, second[0].status) == (OpenStatus.OPENED, OpenStatus.OPENING)
    assert len(opener.cards) == 1
