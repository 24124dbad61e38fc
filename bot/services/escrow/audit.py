"""The append-only, hash-chained audit log, keyed with `AUDIT_KEY` and anchored outside the database.

**What is hashed.** Each entry's canonical form is the JSON object (keys sorted, separators `,` and `:`,
UTF-8, no ASCII escaping) of: `seq`, `order_id`, `action`, `actor`, `role`, `from`, `to`, `note_sha256`
(SHA-256 hex of the note's UTF-8 text, or null), `source_event_id`, `at` (`created_at` in ISO 8601 with
microseconds and offset) and `prev_hash` (the previous entry's `hash`; 64 zeros for the first entry). The
note's text itself is covered through `note_sha256`, so the retention purge may blank it (text gone,
digest kept) and `verify` tells that apart from an edit (text present but not matching its digest).

**Schemes.** Each entry records how its `hash` was made, in `scheme`:

* `hmac-sha256` (made with `AUDIT_KEY` set): the canonical object also holds `"scheme": "hmac-sha256"`,
  and `hash` is HMAC-SHA256 of it under the key (the key's ASCII bytes), in hex. Nobody without the key can
  recompute a keyed entry, so an edit followed by a rewrite of every later hash and of the head fails.
* `sha256` (no key, and every entry made before keys existed): `hash` is plain SHA-256 of the canonical
  object (without a `scheme` key), in hex. Such entries keep verifying after a key is set.

Once a key is set every new entry is keyed; with the key configured, an unkeyed entry after a keyed one is
tampering (someone without the key wrote or rewrote it). A reader with the key re-verifies an entry by
rebuilding its canonical object from the row, computing the hash its scheme names and comparing it with
`hash`, then checking `prev_hash` against the previous entry's `hash`.

**Anchors.** A rewrite of the whole chain (every entry downgraded to `sha256`, or re-keyed by someone who
holds the key) verifies on its own; what catches it is a head held outside the database: every callback
carries the head right after its entry (`audit: {seq, hash}`), a daily line in each log channel states it
(`anchors.py`), and `verify(anchor=...)` checks that entry `seq` still has that hash.

**What verify checks beyond the chain.** The head row matches the last entry (deleting the newest entries
shows); a note set to NULL is covered by a later `purge` entry of the same order (the retention purge writes
one after blanking the order's notes); every escrow's state is the `to` of its order's last entry (an escrow
with no entry has never moved from `awaiting_funding`).

Appends are serialised by the one-row chain head, which each append updates first and holds locked until its
transaction ends.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import AUDIT_KEY_INFO
from bot.db.models import AuditEntry
from bot.db.repos import audit as audit_repo
from bot.db.repos import escrow as escrow_repo
from bot.db.repos.audit import GENESIS
from bot.db.types import utcnow

PLAIN, KEYED = "sha256", "hmac-sha256"  # the schemes an entry's hash is made with
PURGE_ACTION, PURGE_ACTOR = "purge", "retention"  # the retention purge's entry, which covers blanked notes
INITIAL_STATE = "awaiting_funding"  # an escrow's state before its first audit entry


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


def key_of(session: AsyncSession) -> bytes | None:
    """The `AUDIT_KEY` the session's maker carries (`bot.db.engine.create_sessionmaker`); None: unkeyed."""
    key = session.info.get(AUDIT_KEY_INFO)
    return key if isinstance(key, bytes) else None


def canonical(entry: AuditEntry) -> bytes:
    """The bytes an entry's hash is made of (see the module's docstring)."""
    fields: dict[str, object] = {
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
    if entry.scheme == KEYED:
        fields["scheme"] = KEYED
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: AuditEntry, key: bytes | None = None) -> str:
    """The hash `entry.scheme` names: HMAC-SHA256 under `key`, or plain SHA-256."""
    if entry.scheme == KEYED:
        if key is None:
            raise ValueError("a keyed entry's hash needs AUDIT_KEY")
        return hmac.new(key, canonical(entry), hashlib.sha256).hexdigest()
    return hashlib.sha256(canonical(entry)).hexdigest()


async def append(*, session: AsyncSession, record: Record, at: datetime | None = None) -> AuditEntry:
    """Chain `record` onto the log inside the caller's transaction (keyed when the session carries a key).
    The returned entry's `seq` and `hash` are the chain's head once the transaction commits."""
    key = key_of(session)
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
        scheme=KEYED if key is not None else PLAIN,
    )
    entry.hash = entry_hash(entry, key)
    head.hash = entry.hash
    await audit_repo.add(session=session, entry=entry)
    return entry


async def count(*, session: AsyncSession) -> int:
    """How many entries `verify` will walk (for a progress bar)."""
    return await audit_repo.count(session=session)


_ANCHOR = re.compile(r"(?P<seq>[0-9]+):(?P<hash>[0-9a-fA-F]{64})")


@dataclass(frozen=True, slots=True)
class Anchor:
    """A chain head held outside the database: entry `seq` had hash `hash`."""

    seq: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> Anchor:
        """`SEQ:HASH` (an entry number from 1 and its 64 hex digits), as a callback or a daily line states it."""
        match = _ANCHOR.fullmatch(text.strip())
        if match is None or int(match["seq"]) < 1:
            raise ValueError(f"{text!r} is not SEQ:HASH (an entry number from 1, a colon, then 64 hex digits)")
        return cls(int(match["seq"]), match["hash"].lower())

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    checked: int
    purged: int = 0
    bad_seq: int | None = None
    problem: str | None = None
    keyed: int = 0
    anchor: Anchor | None = None

    def describe(self) -> str:
        if self.ok:
            anchored = f"; entry #{self.anchor.seq} matches the anchor" if self.anchor is not None else ""
            return (
                f"audit log intact: {self.checked} entries verified ({self.purged} with purged notes), "
                f"{self.keyed} keyed with AUDIT_KEY{anchored}"
            )
        where = f"at entry #{self.bad_seq}" if self.bad_seq is not None else "in the escrows"
        return f"audit log BROKEN {where}: {self.problem} ({self.checked} entries verified before this was found)"


def _scheme_problem(entry: AuditEntry, key: bytes | None, keyed_before: bool) -> str | None:
    if entry.scheme == KEYED:
        if key is None:
            return "it is keyed (hmac-sha256): set AUDIT_KEY to verify it"
        return None
    if entry.scheme != PLAIN:
        return f"its hash scheme {entry.scheme!r} is unknown (edited)"
    if key is not None and keyed_before:
        return "it is unkeyed (sha256) but comes after keyed entries: written or rewritten without AUDIT_KEY"
    return None


def _check(entry: AuditEntry, expected_seq: int, prev_hash: str, key: bytes | None, keyed_before: bool) -> str | None:
    if entry.seq != expected_seq:
        return f"expected entry #{expected_seq} here; entries are missing or reordered"
    if entry.prev_hash != prev_hash:
        return "does not chain onto the entry before it (an entry before it was deleted, edited or reordered)"
    if (problem := _scheme_problem(entry, key, keyed_before)) is not None:
        return problem
    if not hmac.compare_digest(entry_hash(entry, key).encode(), entry.hash.encode()):
        if entry.scheme == KEYED:
            return "its fields do not match its hash (edited, or AUDIT_KEY is not the key it was made with)"
        return "its fields do not match its hash (edited)"
    if entry.note is not None and note_digest(entry.note) != entry.note_sha256:
        return "its note does not match the note's recorded digest (edited)"
    return None


@dataclass
class _Walk:
    """What walking the chain learns: counts, the last hash, and what the checks after the walk need."""

    key: bytes | None
    anchor: Anchor | None
    checked: int = 0
    purged: int = 0
    keyed: int = 0
    prev_hash: str = GENESIS
    anchored_hash: str | None = None
    blanked: dict[str, int] = field(default_factory=dict)  # order → first entry whose note is gone, no purge yet
    last: dict[str, tuple[int, str]] = field(default_factory=dict)  # order → (seq, to) of its last entry

    def take(self, entry: AuditEntry) -> str | None:
        problem = _check(entry, self.checked + 1, self.prev_hash, self.key, self.keyed > 0)
        if problem is not None:
            return problem
        self.checked += 1
        self.keyed += entry.scheme == KEYED
        self.prev_hash = entry.hash
        if entry.action == PURGE_ACTION and entry.actor == PURGE_ACTOR:
            self.blanked.pop(entry.order_id, None)  # the purge names what it blanked before it
        if entry.note is None and entry.note_sha256 is not None:
            self.purged += 1
            self.blanked.setdefault(entry.order_id, entry.seq)
        self.last[entry.order_id] = (entry.seq, entry.to_state)
        if self.anchor is not None and entry.seq == self.anchor.seq:
            self.anchored_hash = entry.hash
        return None

    def broken(self, seq: int | None, problem: str) -> Verification:
        return Verification(False, self.checked, self.purged, seq, problem, self.keyed, self.anchor)

    def after(self, head_seq: int, head_hash: str) -> Verification | None:
        """The checks once every entry is read: the head, the anchor, blanked notes."""
        if (head_seq, head_hash) != (self.checked, self.prev_hash):
            problem = f"the chain head records {head_seq} entries ending in {head_hash[:12]}"
            return self.broken(self.checked + 1, f"{problem}; the last ones were deleted")
        if self.anchor is not None and self.anchored_hash is None:
            problem = f"the anchor names entry #{self.anchor.seq}, but the chain ends at #{self.checked}"
            return self.broken(self.anchor.seq, f"{problem}: entries were deleted")
        if self.anchor is not None and self.anchored_hash != self.anchor.hash:
            problem = (
                f"its hash is {self.anchored_hash}, the anchor says {self.anchor.hash}: "
                "the chain was rewritten after the anchor was taken"
            )
            return self.broken(self.anchor.seq, problem)
        if self.blanked:
            order_id, seq = min(self.blanked.items(), key=lambda item: item[1])
            problem = f"its note was removed, but no later purge entry of order {order_id} names it (not a purge)"
            return self.broken(seq, problem)
        return None

    def escrow_problem(self, order_id: str, state: str) -> Verification | None:
        last = self.last.get(order_id)
        if last is None:
            if state == INITIAL_STATE:
                return None
            problem = (
                f"the escrow of order {order_id} is {state!r} but no audit entry records it "
                "(changed without an entry, or its entries were deleted)"
            )
            return self.broken(None, problem)
        seq, to_state = last
        if to_state == state:
            return None
        problem = (
            f"it is the last entry of order {order_id} and says {to_state!r}, but the escrow is {state!r}: "
            "the state was changed without an entry"
        )
        return self.broken(seq, problem)


async def verify(
    *, session: AsyncSession, progress: Callable[[int], None] | None = None, anchor: Anchor | None = None
) -> Verification:
    """Walk the whole chain in order (keyed entries with the session's `AUDIT_KEY`), then check the head,
    `anchor` if given, blanked notes and every escrow's state; the first problem is named."""
    walk = _Walk(key_of(session), anchor)
    async for entry in audit_repo.entries(session=session):
        if (problem := walk.take(entry)) is not None:
            return walk.broken(entry.seq, problem)
        if progress is not None:
            progress(1)
    head = await audit_repo.head(session=session)
    head_seq, head_hash = (head.seq, head.hash) if head is not None else (0, GENESIS)
    if (broken := walk.after(head_seq, head_hash)) is not None:
        return broken
    async for order_id, state in escrow_repo.every_state(session=session):
        if (broken := walk.escrow_problem(order_id, state)) is not None:
            return broken
    return Verification(True, walk.checked, walk.purged, keyed=walk.keyed, anchor=anchor)
