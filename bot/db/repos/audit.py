"""Queries on the escrow audit log (`audit_entries`) and its one-row chain head (`audit_head`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Update, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.db.models import AuditEntry, AuditHead
from bot.db.repos import batch as batches

GENESIS = "0" * 64  # the hash an empty chain ends in (migration 0003 makes the head row with it)
PAGE = 500  # entries read per query by `entries`
_COLUMNS = [column for column in AuditEntry.model_fields if column != "id"]


async def _ensure_head(session: AsyncSession) -> None:
    """The head row (made by the migration) comes back as an empty chain if a table wipe removed it."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    genesis = dialect.insert(AuditHead).values(id=1, seq=0, hash=GENESIS).on_conflict_do_nothing(index_elements=["id"])
    await session.execute(genesis)


async def claim_head(*, session: AsyncSession) -> AuditHead:
    """Claim the next sequence number: the head comes back with `seq` the new entry's number and
    `hash` the previous entry's hash; set `hash` to the new entry's.

    The head is written first, so its row lock (PostgreSQL) or the database's write lock (SQLite)
    is held from here to the commit: appends are strictly one after another. A batch of events claims it once,
    for its first entry, and numbers the rest itself (`Batch.claim_head`)."""
    batch = batches.of(session)
    if batch is not None:
        if (held := batch.claim_head()) is not None:
            return held
        stored = await _claim(session, update(AuditHead).values(seq=col(AuditHead.seq)))
        return batch.claim_head((stored.seq, stored.hash)) or stored
    return await _claim(session, update(AuditHead).values(seq=col(AuditHead.seq) + 1))


async def _claim(session: AsyncSession, statement: Update) -> AuditHead:
    claim = (
        statement.where(col(AuditHead.id) == 1)
        .returning(AuditHead)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    claimed = (await session.scalars(claim)).first()
    if claimed is None:  # a wipe removed the head row: an empty chain again
        await _ensure_head(session)
        claimed = (await session.scalars(claim)).first()
    assert claimed is not None
    return claimed


async def head(*, session: AsyncSession) -> AuditHead | None:
    """The chain head as stored now (not as this session last saw it)."""
    return await session.get(AuditHead, 1, populate_existing=True)


async def for_order(*, session: AsyncSession, order_id: str) -> list[AuditEntry]:
    """The order's entries, oldest first."""
    query = select(AuditEntry).where(col(AuditEntry.order_id) == order_id).order_by(col(AuditEntry.seq))
    return list((await session.scalars(query)).all())


async def acted_as(*, session: AsyncSession, order_id: str, actor: str, role: str) -> bool:
    """Has `actor` ever acted on this order in `role` (e.g. a Discord id as an officer)?"""
    query = select(
        exists().where(
            col(AuditEntry.order_id) == order_id,
            col(AuditEntry.actor) == actor,
            col(AuditEntry.role) == role,
        )
    )
    return bool(await session.scalar(query))


def new_entry(*, session: AsyncSession, **values: Any) -> AuditEntry:
    """An entry to chain and `add` (in a batch of events, made the cheap way: `batch.detached`)."""
    if batches.of(session) is None:
        return AuditEntry(**values)
    return batches.detached(AuditEntry, {"id": None, **values})


async def add(*, session: AsyncSession, entry: AuditEntry) -> None:
    """Store a chained entry (in a batch of events: with the batch's other writes)."""
    batch = batches.of(session)
    if batch is None:
        session.add(entry)
        await session.flush()
        return
    batch.add_audit({column: getattr(entry, column) for column in _COLUMNS})


async def event_recorded(*, session: AsyncSession, order_id: str, source_event_id: str) -> bool:
    """Has this marketplace event already left an audit entry on this order?"""
    batch = batches.of(session)
    if batch is not None and order_id in batch.orders.held:
        return (order_id, source_event_id) in batch.audit_seen
    query = select(
        exists().where(
            col(AuditEntry.order_id) == order_id,
            col(AuditEntry.source_event_id) == source_event_id,
        )
    )
    return bool(await session.scalar(query))


async def count(*, session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


async def entries(*, session: AsyncSession) -> AsyncIterator[AuditEntry]:
    """Every entry in sequence order, read `PAGE` at a time."""
    last = 0
    while True:
        query = select(AuditEntry).where(col(AuditEntry.seq) > last).order_by(col(AuditEntry.seq)).limit(PAGE)
        page = (await session.scalars(query)).all()
        if not page:
            return
        for entry in page:
            yield entry
        last = page[-1].seq
