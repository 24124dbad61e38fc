"""Shared by the tests of what the ticket queries send: rows to query, the statements sent,
their plans, and the indexes that exist."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import event, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.services.guilds import Actor

Sent = tuple[str, Any]
OFFICER_ROLE = 55


def officer_of(guild_id: int) -> Actor:
    """An officer of `guild_id` (holding its role named OFFICER_ROLE_NAME), as an interaction shows them."""
    return Actor(user_id=1, guild_id=guild_id, role_ids=frozenset({OFFICER_ROLE}), named_officer_role_id=OFFICER_ROLE)


def order_fields(n: int, start: datetime) -> dict[str, Any]:
    """The columns of order `ord_<n>` (three digits at least), agreed at `start`, all on one gig."""
    return {
        "id": f"ord_{n:03d}",
        "terms_event_id": f"evt_{n}",
        "gig_url": "https://opentaskai.com/gig/1",
        "gig_key": "opentaskai.com/gig/1",
        "seller_email": "s@example.com",
        "buyer_email": "b@example.com",
        "amount": Decimal("10.00"),
        "currency": "USD",
        "delivery_due": start + timedelta(days=7),
        "deliverables": "a logo",
        "agreed_at": start,
    }


@contextmanager
def sent(engine: AsyncEngine, keep: Callable[[str], bool] = lambda _statement: True) -> Iterator[list[Sent]]:
    """The statements (with their parameters) the engine sends inside the block, those `keep` accepts."""
    seen: list[Sent] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if keep(statement):
            seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)


def is_select(statement: str) -> bool:
    return statement.lstrip().upper().startswith("SELECT")


async def plan(engine: AsyncEngine, statement: Sent, *, forbid_sort: bool = False) -> str:
    """The query plan of a statement as it was sent. On PostgreSQL (a handful of rows) the sequential
    scan, and with `forbid_sort` the sort, are switched off so the plan shows whether an index can serve."""
    sql, parameters = statement
    async with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            raw = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", parameters)
        else:
            await connection.exec_driver_sql("SET enable_seqscan = off")
            if forbid_sort:
                await connection.exec_driver_sql("SET enable_sort = off")
            raw = await connection.exec_driver_sql(f"EXPLAIN {sql}", parameters)
        return "\n".join(str(row) for row in raw.all())


async def index_names(engine: AsyncEngine, table: str) -> set[str]:
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: {ix["name"] for ix in inspect(sync).get_indexes(table)})
        if engine.dialect.name == "sqlite":  # SQLAlchemy does not reflect SQLite expression indexes
            rows = await connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'"))
            names |= set(rows.scalars())
    return set(names)
