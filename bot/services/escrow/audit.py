"""The append-only, hash-chained audit log.

Every entry's `hash` is sha256 over a canonical JSON of its fields and the previous entry's
hash. The note's text is covered through `note_sha256`, so retention may blank the text
(a purge: text gone, digest kept) and `verify` can tell that apart from an edit (text
present but not matching its digest). Appends are serialised by the one-row chain head,
which each append updates first and holds locked until its transaction ends.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import AuditEntry, AuditHead
from bot.db.types import utcnow

GENESIS = "0" * 64
PAGE = 500


@dataclass(frozen=True, slots=True)
class Record:
    """What one audit entry says (before it is chained)."""

    order_id: str
    action: str
    actor: str
    role: str
    from_state: str
    to_state: str
    note: str | None = None
    source_event_id: str | None = None


def note_digest(note: str | None) -> str | None:
    return None if note is None else hashlib.sha256(note.encode()).hexdigest()


def entry_hash(entry: AuditEntry) -> str:
    canonical = {
        "seq": entry.seq,
        "order_id": entry.order_id,
        "action": entry.action,
        "actor": entry.actor,
        "role": entry.role,
        "from": entry.from_state,
        "to": entry.to_state,
        "note_sha256": entry.note_sha256,
        "source_event_id": entry.source_event_id,
        "at": entry.created_at.isoformat(timespec="microseconds"),
        "prev_hash": entry.prev_hash,
    }
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


async def _ensure_head(session: AsyncSession) -> None:
    """The head row (made by the migration) comes back as an empty chain if a table wipe removed it."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    genesis = dialect.insert(AuditHead).values(id=1, seq=0, hash=GENESIS).on_conflict_do_nothing(index_elements=["id"])
    await session.execute(genesis)


async def append(*, session: AsyncSession, record: Record, at: datetime | None = None) -> AuditEntry:
    """Chain `record` onto the log inside the caller's transaction."""
    # Claim the next number by writing the head first: the row lock (PostgreSQL) or the database's
    # write lock (SQLite) is held from here to the commit, so appends are strictly one after another.
    await _ensure_head(session)
    claim = update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1)  # type: ignore[arg-type]
    await session.execute(claim.execution_options(synchronize_session=False))
    head = await session.get(AuditHead, 1, populate_existing=True)
    assert head is not None
    entry = AuditEntry(
        seq=head.seq,
        order_id=record.order_id,
        action=record.action,
        actor=record.actor,
        role=record.role,
        from_state=record.from_state,
        to_state=record.to_state,
        note=record.note,
        note_sha256=note_digest(record.note),
        source_event_id=record.source_event_id,
        created_at=at or utcnow(),
        prev_hash=head.hash,
        hash="",
    )
    entry.hash = entry_hash(entry)
    head.hash = entry.hash
    session.add(entry)
    await session.flush()
    return entry


async def for_order(*, session: AsyncSession, order_id: str) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.order_id == order_id).order_by(AuditEntry.seq)  # type: ignore[arg-type]
    return list((await session.scalars(query)).all())


async def acted_as(*, session: AsyncSession, order_id: str, actor: str, role: str) -> bool:
    """Has `actor` ever acted on this order in `role` (e.g. a Discord id as an officer)?"""
    query = select(
        exists().where(
            AuditEntry.order_id == order_id,  # type: ignore[arg-type]
            AuditEntry.actor == actor,  # type: ignore[arg-type]
            AuditEntry.role == role,  # type: ignore[arg-type]
        )
    )
    return bool(await session.scalar(query))


async def count(*, session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


async def _pages(session: AsyncSession) -> AsyncIterator[AuditEntry]:
    last = 0
    while True:
        query = select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(PAGE)  # type: ignore[arg-type]
        page = (await session.scalars(query)).all()
        if not page:
            return
        for entry in page:
            yield entry
        last = page[-1].seq


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    checked: int
    purged: int = 0
    bad_seq: int | None = None
    problem: str | None = None

    def describe(self) -> str:
        if self.ok:
            return f"audit log intact: {self.checked} entries verified ({self.purged} with purged notes)"
        return f"audit log BROKEN at entry #{self.bad_seq}: {self.problem} ({self.checked} entries before it verified)"


def _check(entry: AuditEntry, expected_seq: int, prev_hash: str) -> str | None:
    if entry.seq != expected_seq:
        return f"expected entry #{expected_seq} here; entries are missing or reordered"
    if entry.prev_hash != prev_hash:
        return "does not chain onto the entry before it (an entry before it was deleted, edited or reordered)"
    if entry_hash(entry) != entry.hash:
        return "its fields do not match its hash (edited)"
    if entry.note is not None and note_digest(entry.note) != entry.note_sha256:
        return "its note does not match the note's recorded digest (edited)"
    return None


async def verify(*, session: AsyncSession, progress: Callable[[int], None] | None = None) -> Verification:
    """Walk the whole chain in order; the first entry that fails is named."""
    checked = purged = 0
    prev_hash = GENESIS
    async for entry in _pages(session):
        problem = _check(entry, checked + 1, prev_hash)
        if problem is not None:
            return Verification(False, checked, purged, entry.seq, problem)
        checked += 1
        purged += entry.note is None and entry.note_sha256 is not None
        prev_hash = entry.hash
        if progress is not None:
            progress(1)
    head = await session.get(AuditHead, 1, populate_existing=True)
    head_seq, head_hash = (head.seq, head.hash) if head is not None else (0, GENESIS)
    if (head_seq, head_hash) != (checked, prev_hash):
        problem = f"the chain head records {head_seq} entries ending in {head_hash[:12]}; the last ones were deleted"
        return Verification(False, checked, purged, checked + 1, problem)
    return Verification(True, checked, purged)
