"""The lookups of `/guarantee open` are served by indexes (0004_ticket_indexes), on both backends."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import event, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.db.repos import tickets as repo


async def test_the_order_indexes_exist(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: {ix["name"] for ix in inspect(sync).get_indexes("orders")})
        if engine.dialect.name == "sqlite":  # SQLAlchemy does not reflect SQLite expression indexes
            rows = await connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'"))
            names |= set(rows.scalars())
    assert {"ix_orders_gig_key", "ix_orders_seller_email_key"} <= names


async def _plan(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], run: Callable[[AsyncSession], Awaitable[Any]]
) -> str:
    """The query plan of the SELECT the repo function sends (explained as sent, parameters included)."""
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "orders" in statement:
            seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with sessions() as session:
            await run(session)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    statement, parameters = seen[-1]
    async with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            raw = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        else:  # a handful of rows: forbid the sequential scan so the plan shows whether an index can serve
            await connection.exec_driver_sql("SET enable_seqscan = off")
            raw = await connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
        return "\n".join(str(row) for row in raw.all())


async def test_orders_for_gig_uses_its_index(engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> None:
    plan = await _plan(engine, sessions, lambda s: repo.orders_for_gig(session=s, gig_key="opentaskai.com/gig/1"))
    assert "ix_orders_gig_key" in plan


async def test_seller_email_lookup_uses_its_index(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    plan = await _plan(engine, sessions, lambda s: repo.unticketed_orders_of_seller(session=s, email="a@b.c"))
    assert "ix_orders_seller_email_key" in plan
