"""The lookups of `/guarantee open` are served by indexes (0004_ticket_indexes), on both backends."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.db.repos import orders as order_repo
from tests.db.support import index_names, is_select, plan, sent


async def test_the_order_indexes_exist(engine: AsyncEngine) -> None:
    assert {"ix_orders_gig_key", "ix_orders_seller_email_key"} <= await index_names(engine, "orders")


async def _plan(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], run: Callable[[AsyncSession], Awaitable[Any]]
) -> str:
    """The query plan of the SELECT on orders the repo function sends (explained as sent, parameters included)."""
    with sent(engine, lambda statement: is_select(statement) and "orders" in statement) as seen:
        async with sessions() as session:
            await run(session)
    return await plan(engine, seen[-1])


async def test_orders_for_gig_uses_its_index(engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> None:
    plan = await _plan(engine, sessions, lambda s: order_repo.for_gig(session=s, gig_key="opentaskai.com/gig/1"))
    assert "ix_orders_gig_key" in plan


async def test_seller_email_lookup_uses_its_index(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    plan = await _plan(engine, sessions, lambda s: order_repo.unticketed_of_seller(session=s, email="a@b.c"))
    assert "ix_orders_seller_email_key" in plan
