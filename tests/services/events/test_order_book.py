"""OrderBook.apply directly: outcomes, the terms lock and the next steps inside the event's transaction."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import OrderTerms
from bot.services.escrow.marketplace import MarketplaceEscrow
from bot.services.events.contract import parse_event
from bot.services.events.order_book import AppliedEvent, OrderBook, Outcome
from tests.services.helpers import Sessions, history, order, order_book
from tests.webhooks.events import agreed, event, terms


async def apply(sessions: Sessions, book: OrderBook, document: dict[str, Any], msg_id: str) -> AppliedEvent:
    async with sessions.begin() as session:
        return await book.apply(session, parse_event(document), msg_id)


def update(order_id: str, hour: int, amount: str) -> dict[str, Any]:
    return event("order.updated", terms(order_id, amount=amount, agreed_at=f"2026-11-25T{hour:02d}:00:00Z"))


async def test_outcomes(sessions: Sessions) -> None:
    book = order_book(sessions)

    async def outcome(document: dict[str, Any], msg_id: str) -> Outcome:
        return (await apply(sessions, book, document, msg_id)).outcome

    cancelled = event("order.cancelled", {"order_id": "o1"})
    assert await outcome(event("order.completed", {"order_id": "o1", "completed_at": "2026-11-25T10:00Z"}), "f") is (
        Outcome.WAITING
    )
    created = await apply(sessions, book, agreed("o1"), "a")
    assert created.outcome is Outcome.CREATED and created.order is not None and created.order.id == "o1"
    assert await outcome(agreed("o1"), "a") is Outcome.ALREADY_APPLIED
    assert await outcome(agreed("o1"), "a-resent") is Outcome.TERMS_STALE  # same agreed_at: not newer
    assert await outcome(update("o1", 11, "5"), "u") is Outcome.TERMS_APPLIED
    assert await outcome(cancelled, "c") is Outcome.FACT_RECORDED
    assert await outcome(cancelled, "c2") is Outcome.ALREADY_APPLIED
    assert await outcome(event("x.y", {"order_id": "o1"}), "x") is Outcome.IGNORED


async def test_locked_terms_are_recorded_and_flagged_not_applied(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked: list[str] = []

    async def lock(_session: AsyncSession, order_id: str) -> int | None:
        locked.append(order_id)
        return None  # a payment is held: the terms are frozen

    book = order_book(sessions)
    await apply(sessions, book, agreed("o1"), "a")
    monkeypatch.setattr(MarketplaceEscrow, "take_new_terms", staticmethod(lock))
    applied = await apply(sessions, book, update("o1", 11, "999"), "u")

    assert applied.outcome is Outcome.TERMS_LOCKED
    assert locked == ["o1"]
    current = await order(sessions, "o1")
    assert current is not None and (current.amount, current.terms_version) == (Decimal("120.50"), 1)
    versions = await history(sessions, "o1")
    assert [(v.event_id, v.applied) for v in versions] == [("a", True), ("u", False)]
    assert versions[1].note and "funding" in versions[1].note


async def test_stale_update_is_not_even_checked_against_the_lock(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def lock(_session: AsyncSession, _order_id: str) -> int | None:
        raise AssertionError("not needed for stale terms")

    book = order_book(sessions)
    await apply(sessions, book, agreed("o1"), "a")
    monkeypatch.setattr(MarketplaceEscrow, "take_new_terms", staticmethod(lock))
    assert (await apply(sessions, book, update("o1", 1, "1"), "old")).outcome is Outcome.TERMS_STALE


async def test_next_steps_run_inside_the_transaction(sessions: Sessions, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, int]] = []
    react = MarketplaceEscrow.react

    async def escrow_step(self: MarketplaceEscrow, session: AsyncSession, **kwargs: Any) -> list[Any]:
        # The escrow's step sees the flushed state of this very transaction.
        count = await session.scalar(select(func.count()).select_from(OrderTerms))
        seen.append((kwargs["event_type"], int(count or 0)))
        return await react(self, session, **kwargs)

    monkeypatch.setattr(MarketplaceEscrow, "react", escrow_step)
    book = order_book(sessions)
    await apply(sessions, book, agreed("o1"), "a")
    await apply(sessions, book, update("o1", 11, "7"), "u")
    assert seen == [("order.agreed", 1), ("order.updated", 2)]


async def test_the_same_terms_again_change_nothing_but_keep_the_newest_agreement_in_force(sessions: Sessions) -> None:
    book = order_book(sessions)
    await apply(sessions, book, agreed("o1"), "a")
    assert (await apply(sessions, book, update("o1", 11, "5"), "u11")).outcome is Outcome.TERMS_APPLIED
    same = await apply(sessions, book, update("o1", 13, "5.00"), "u13")  # newer, the same terms
    assert same.outcome is Outcome.TERMS_UNCHANGED and same.changes == ()
    current = await order(sessions, "o1")
    assert current is not None and (current.terms_version, current.terms_event_id) == (2, "u13")
    late = await apply(sessions, book, update("o1", 12, "7"), "u12")  # older than the agreement in force
    assert late.outcome is Outcome.TERMS_STALE
    current = await order(sessions, "o1")
    assert current is not None and current.amount == Decimal("5.00")
    versions = await history(sessions, "o1")
    assert [(v.event_id, v.applied) for v in versions] == [("a", True), ("u11", True), ("u13", True), ("u12", False)]
