"""Stored events and a processor on the test database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Order, OrderTerms, WebhookEvent
from bot.db.repos import orders as order_repo
from bot.services.escrow.marketplace import MarketplaceEscrow
from bot.services.escrow.results import Change
from bot.services.escrow.service import EscrowService
from bot.services.events.order_book import OrderBook
from tests.webhooks.events import dumps

Sessions = async_sessionmaker[AsyncSession]


async def store(sessions: Sessions, msg_id: str, document: dict[str, Any]) -> int:
    """What the intake does: keep the raw body, keyed by webhook-id."""
    order_id = document.get("data", {}).get("order_id")
    async with sessions.begin() as session:
        row = WebhookEvent(webhook_id=msg_id, type=document["type"], order_id=order_id, body=dumps(document))
        session.add(row)
        await session.flush()
        assert row.id is not None
        return row.id


async def event_row(sessions: Sessions, msg_id: str) -> WebhookEvent:
    async with sessions() as session:
        row = (await session.scalars(select(WebhookEvent).where(WebhookEvent.webhook_id == msg_id))).one()  # type: ignore[arg-type]
        return row


async def order(sessions: Sessions, order_id: str) -> Order | None:
    async with sessions() as session:
        return await order_repo.get(session=session, order_id=order_id)


async def history(sessions: Sessions, order_id: str) -> list[OrderTerms]:
    async with sessions() as session:
        return list(await order_repo.terms_history(session=session, order_id=order_id))


async def all_orders(sessions: Sessions) -> list[Order]:
    async with sessions() as session:
        return list((await session.scalars(select(Order))).all())


def escrow_step(sessions: Sessions, *, callbacks_enabled: bool = False) -> MarketplaceEscrow:
    return MarketplaceEscrow(EscrowService(sessions, callbacks_enabled=callbacks_enabled))


def order_book(sessions: Sessions, *, callbacks_enabled: bool = False) -> OrderBook:
    """The order book as the runtime wires it: with the escrow's step (tickets' step is a module function)."""
    return OrderBook(escrow_step(sessions, callbacks_enabled=callbacks_enabled))


class RecordingEffects:
    """Stands in for the effect worker: records each wake-up after an event's commit (and can signal)."""

    def __init__(self, on_commit: Callable[[Sequence[Change]], Awaitable[None]] | None = None) -> None:
        self.woken = 0
        self.changes: list[Change] = []
        self._on_commit = on_commit

    def wake(self) -> None:
        self.woken += 1

    async def escrow_changed(self, changes: Sequence[Change]) -> None:
        self.changes += changes
        self.woken += 1
        if self._on_commit is not None:
            await self._on_commit(changes)
