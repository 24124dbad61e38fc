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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import AuditEntry
from bot.db.repos import audit as audit_repo
from bot.db.repos.audit import GENESIS
from bot.db.types import utcnow


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


async def append(*, session: AsyncSession, record: Record, at: datetime | None = None) -> AuditEntry:
    """Chain `record` onto the log inside the caller's transaction."""
    # The head stays locked from here to the commit, so appends are strictly one after another.
    head = await audit_repo.claim_head(session=session)
    entry = audit_repo.new_entry(
        session=session,
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
    await audit_repo.add(session=session, entry=entry)
    return entry


async def count(*, session: AsyncSession) -> int:
    """How many entries `verify` will walk (for a progress bar)."""
    return await audit_repo.count(session=session)


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
    async for entry in audit_repo.entries(session=session):
        problem = _check(entry, checked + 1, prev_hash)
        if problem is not None:
            return Verification(False, checked, purged, entry.seq, problem)
        checked += 1
        purged += entry.note is None and entry.note_sha256 is not None
        prev_hash = entry.hash
        if progress is not None:
            progress(1)
    head = await audit_repo.head(session=session)
    head_seq, head_hash = (head.seq, head.hash) if head is not None else (0, GENESIS)
    if (head_seq, head_hash) != (checked, prev_hash):
        problem = f"the chain head records {head_seq} entries ending in {head_hash[:12]}; the last ones were deleted"
        return Verification(False, checked, purged, checked + 1, problem)
    return Verification(True, checked, purged)
