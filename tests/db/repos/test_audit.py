"""The audit log's storage: the chain head that numbers appends, and the walk over every entry."""

from __future__ import annotations

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import AuditEntry, AuditHead
from bot.db.repos import audit as audit_repo
from bot.db.types import utcnow


def entry(seq: int, *, order_id: str) -> AuditEntry:
    return AuditEntry(
        seq=seq,
        order_id=order_id,
        action="flag",
        actor="marketplace",
        role="marketplace",
        from_state="funded",
        to_state="funded",
        created_at=utcnow(),
        prev_hash="0" * 64,
        hash=f"{seq:064d}",
    )


async def test_a_wiped_head_comes_back_as_an_empty_chain(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        await session.execute(delete(AuditHead))
    async with sessions.begin() as session:
        head = await audit_repo.claim_head(session=session)
        assert (head.seq, head.hash) == (1, audit_repo.GENESIS)
        head.hash = "a" * 64
    async with sessions.begin() as session:
        head = await audit_repo.claim_head(session=session)
        assert (head.seq, head.hash) == (2, "a" * 64)


async def test_entries_walks_every_entry_in_order_a_page_at_a_time(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_repo, "PAGE", 3)
    async with sessions.begin() as session:
        for seq in (5, 1, 7, 2, 4, 3, 6):  # stored out of order; the hashes do not matter here
            session.add(entry(seq, order_id=f"ord_{seq % 2}"))
    async with sessions() as session:
        assert [entry.seq async for entry in audit_repo.entries(session=session)] == [1, 2, 3, 4, 5, 6, 7]
        assert [entry.seq for entry in await audit_repo.for_order(session=session, order_id="ord_1")] == [1, 3, 5, 7]
