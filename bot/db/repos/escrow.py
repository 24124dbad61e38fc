"""Queries on escrows: one row per order, its state moved by compare-and-set on `version`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.db.core import rowcount
from bot.db.models import Escrow
from bot.db.repos import batch as batches
from bot.db.types import utcnow


def _held(session: AsyncSession, order_id: str) -> tuple[bool, Escrow | None]:
    """In a batch of events: (True, the batch's copy of the escrow, or None when there is none)."""
    batch = batches.of(session)
    if batch is not None and order_id in batch.escrows.held:
        escrow: Escrow | None = batch.escrows.held[order_id]
        return True, escrow
    return False, None


def _batch(session: AsyncSession) -> batches.Batch:
    batch = batches.of(session)
    assert batch is not None
    return batch


async def get(*, session: AsyncSession, order_id: str, fresh: bool = False) -> Escrow | None:
    """The order's escrow (`fresh`: as stored now, not as this session read it before; in a batch of events the
    batch's copy, which is the one that changes)."""
    held, escrow = _held(session, order_id)
    if held:
        return escrow
    query = select(Escrow).where(col(Escrow.order_id) == order_id)
    if fresh:
        query = query.execution_options(populate_existing=True)
    return (await session.scalars(query)).first()


async def create(*, session: AsyncSession, order_id: str, state: str) -> bool:
    """Insert the escrow unless it exists; True when this call made it."""
    values = {"order_id": order_id, "state": state, "version": 0, "created_at": utcnow(), "updated_at": utcnow()}
    held, escrow = _held(session, order_id)
    if held:
        if escrow is not None:
            return False
        none = {"payment_reference": None, "approved_by": None, "approved_at": None, "flag": None}
        _batch(session).escrows.add(values | none)
        return True
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(Escrow).values(**values).on_conflict_do_nothing(index_elements=["order_id"])
    return bool(rowcount(await session.execute(statement)))


async def compare_and_set(*, session: AsyncSession, order_id: str, version: int, values: dict[str, Any]) -> bool:
    """`UPDATE escrows SET ..., version = version + 1 WHERE order_id = ? AND version = ?`; True if it won."""
    held, escrow = _held(session, order_id)
    if held:
        if escrow is None or escrow.version != version:
            return False
        _batch(session).escrows.change(order_id, {**values, "version": version + 1, "updated_at": utcnow()})
        return True
    statement = (
        update(Escrow)
        .where(col(Escrow.order_id) == order_id, col(Escrow.version) == version)
        .values(**values, version=version + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return rowcount(await session.execute(statement)) == 1


async def bump_version(*, session: AsyncSession, order_id: str) -> int | None:
    """Something every pending form and decision depends on changed (who the parties are): they must look again.
    Returns the new version (None: the order has no escrow)."""
    held, escrow = _held(session, order_id)
    if held:
        if escrow is None:
            return None
        changed = _batch(session).escrows.change(order_id, {"version": escrow.version + 1, "updated_at": utcnow()})
        return int(changed.version)
    statement = (
        update(Escrow)
        .where(col(Escrow.order_id) == order_id)
        .values(version=col(Escrow.version) + 1, updated_at=utcnow())
        .returning(col(Escrow.version))
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def set_flag(*, session: AsyncSession, order_id: str, flag: str) -> None:
    held, escrow = _held(session, order_id)
    if held:
        if escrow is not None:
            _batch(session).escrows.change(order_id, {"flag": flag, "updated_at": utcnow()})
        return
    statement = (
        update(Escrow)
        .where(col(Escrow.order_id) == order_id)
        .values(flag=flag, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await session.execute(statement)


async def states(*, session: AsyncSession, order_ids: Sequence[str]) -> dict[str, str]:
    """The escrow state per order; an order without an escrow row is left out."""
    if not order_ids:
        return {}
    query = select(col(Escrow.order_id), col(Escrow.state)).where(col(Escrow.order_id).in_(order_ids))
    rows = (await session.execute(query)).all()
    return {str(row[0]): str(row[1]) for row in rows}


async def every_state(*, session: AsyncSession, page: int = 1000) -> AsyncIterator[tuple[str, str]]:
    """Every escrow's `(order_id, state)`, by order id, read `page` at a time (`guarantor audit verify`)."""
    last = ""
    while True:
        query = (
            select(col(Escrow.order_id), col(Escrow.state))
            .where(col(Escrow.order_id) > last)
            .order_by(col(Escrow.order_id))
            .limit(page)
        )
        rows = (await session.execute(query)).all()
        if not rows:
            return
        for order_id, state in rows:
            yield order_id, state
        last = rows[-1][0]


async def take_new_terms(*, session: AsyncSession, order_id: str, state: str) -> int | None:
    """New terms for an escrow still in `state` (waiting for payment): bump its version, remembering that this
    version came from a change of terms. Atomic with the state check, so a payment confirmed at the same moment
    either lands first (then this returns None: the terms are frozen) or loses its compare-and-set. In a batch of
    events its copy of the escrow changes (the batch holds the row locked until the commit)."""
    held, escrow = _held(session, order_id)
    if held:
        if escrow is None or escrow.state != state:
            return None
        version = escrow.version + 1
        _batch(session).escrows.change(
            order_id, {"version": version, "terms_changed_version": version, "updated_at": utcnow()}
        )
        return version
    statement = (
        update(Escrow)
        .where(col(Escrow.order_id) == order_id, col(Escrow.state) == state)
        .values(version=col(Escrow.version) + 1, terms_changed_version=col(Escrow.version) + 1, updated_at=utcnow())
        .returning(col(Escrow.version))
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(statement)).scalar_one_or_none()
