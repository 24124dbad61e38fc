"""An escrow world on the test database: orders made through the real `OrderBook` and its escrow
step, tickets naming the parties, and the Discord ids of everyone involved."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import AuditEntry, CallbackDelivery, Escrow, Ticket
from bot.services.escrow.marketplace import MarketplaceEscrow
from bot.services.escrow.results import Change
from bot.services.escrow.service import EscrowService
from bot.services.events.contract import parse_event
from bot.services.events.order_book import AppliedEvent, OrderBook
from bot.services.guilds import Actor
from tests.webhooks.events import agreed, event

Sessions = async_sessionmaker[AsyncSession]

FREELANCER, BUYER, OFFICER, OFFICER_2, OUTSIDER = 1001, 1002, 2001, 2002, 3001
GUILD = 900
OFFICER_ROLE = 777  # the role named OFFICER_ROLE_NAME in GUILD (no `/guarantee setup` was run)


def actor(user_id: int, *, officer: bool = False, guild_id: int = GUILD) -> Actor:
    """Someone clicking in GUILD, holding the officer role or not, as an interaction shows them."""
    return Actor(user_id, guild_id, frozenset({OFFICER_ROLE}) if officer else frozenset(), OFFICER_ROLE)


class Heard:
    """The escrow's effects port: records every committed change (`then` runs after each batch)."""

    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.then: Callable[[Sequence[Change]], None] | None = None

    async def escrow_changed(self, changes: Sequence[Change]) -> None:
        self.changes += changes
        if self.then is not None:
            self.then(changes)


@dataclass
class EscrowWorld:
    sessions: Sessions
    escrow: EscrowService
    book: OrderBook
    effects: Heard
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def heard(self) -> list[Change]:
        return self.effects.changes

    async def deliver_event(self, document: dict[str, Any], webhook_id: str | None = None) -> AppliedEvent:
        """What the processor does with one stored event: apply it in a transaction, then run its effects."""
        webhook_id = webhook_id or f"msg_{next(self._ids)}"
        async with self.sessions.begin() as session:
            applied = await self.book.apply(session, parse_event(document), webhook_id)
        await self.effects.escrow_changed(list(applied.changes))
        return applied

    async def order(self, order_id: str = "ord_1", *, ticket: bool = True, buyer_joined: bool = True) -> str:
        await self.deliver_event(agreed(order_id), f"agreed_{order_id}")
        if ticket:
            async with self.sessions.begin() as session:
                session.add(
                    Ticket(
                        order_id=order_id,
                        guild_id=GUILD,
                        freelancer_id=FREELANCER,
                        buyer_id=BUYER if buyer_joined else None,
                    )
                )
        return order_id

    async def fact(self, type_: str, order_id: str, webhook_id: str | None = None, **data: Any) -> AppliedEvent:
        defaults = {
            "order.delivered": {"delivered_at": "2026-11-26T10:00:00+00:00"},
            "order.completed": {"completed_at": "2026-11-27T10:00:00+00:00"},
            "order.cancelled": {"reason": "changed plans"},
        }[type_]
        return await self.deliver_event(event(type_, {"order_id": order_id, **defaults, **data}), webhook_id)

    async def state(self, order_id: str = "ord_1") -> Escrow:
        async with self.sessions() as session:
            return (await session.scalars(select(Escrow).where(Escrow.order_id == order_id))).one()  # type: ignore[arg-type]

    async def entries(self, order_id: str | None = None) -> list[AuditEntry]:
        query = select(AuditEntry).order_by(AuditEntry.seq)  # type: ignore[arg-type]
        if order_id is not None:
            query = query.where(AuditEntry.order_id == order_id)  # type: ignore[arg-type]
        async with self.sessions() as session:
            return list((await session.scalars(query)).all())

    async def outbox(self) -> list[CallbackDelivery]:
        async with self.sessions() as session:
            return list((await session.scalars(select(CallbackDelivery).order_by(CallbackDelivery.id))).all())  # type: ignore[arg-type]

    async def ticket(self, order_id: str = "ord_1") -> Ticket:
        async with self.sessions() as session:
            return (await session.scalars(select(Ticket).where(Ticket.order_id == order_id))).one()  # type: ignore[arg-type]


def make_world(sessions: Sessions, *, callbacks_enabled: bool = False) -> EscrowWorld:
    effects = Heard()
    service = EscrowService(sessions, callbacks_enabled=callbacks_enabled, effects=effects)
    return EscrowWorld(sessions, service, OrderBook(MarketplaceEscrow(service)), effects)
