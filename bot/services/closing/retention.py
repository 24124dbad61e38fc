"""The retention purge (PRODUCT.md §5): `TRANSCRIPT_RETENTION_DAYS` after a ticket closed, its records go.

Purged, per order: the transcript files and attachments; the emails typed in ticket requests; the
personal fields of the order and of every terms version (emails, names, marketplace user ids,
conversation link, deliverables, notes); the personal fields of its stored webhook event bodies
(everything in `data` but the order id, gig link, amount, currency and dates); the notes of its
callbacks; and the text of its audit notes (each entry keeps the note's digest, so `guarantor audit
verify` reads it as purged, not edited). Amounts, states, dates and ids stay.

Each ticket is purged in one transaction that first marks it (`tickets.purged_at`, so it is never
purged twice, even by two purges at once), then appends an audit entry (action `purge`, actor
`retention`) naming how much of each kind went; its files are deleted last, before the commit.
A dry run (`plan`) reads the same counts and changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.repos import retention as repo
from bot.db.types import utcnow
from bot.services.closing.render import human_size
from bot.services.closing.storage import transcript_dir
from bot.services.escrow import audit
from bot.services.worker import PollingWorker

log = logging.getLogger(__name__)

POLL_SECONDS = 3600.0  # a new day is noticed within the hour

PURGED = repo.PURGED
ACTION, ACTOR, ROLE = audit.PURGE_ACTION, audit.PURGE_ACTOR, "system"  # `audit.verify` reads blanked notes by it
# What a stored event keeps: the envelope, and in `data` only what is not about a person.
KEPT_EVENT_DATA = frozenset({"order_id", "gig_url", "amount", "currency", "delivery_due", "agreed_at"})
KEPT_EVENT_DATA |= {"delivered_at", "completed_at"}
KEPT_ENVELOPE = frozenset({"type", "timestamp", "data"})


def redact_event(body: str) -> str:
    """The stored event body with every personal value replaced by `[purged]` (idempotent)."""
    try:
        document = json.loads(body)
    except ValueError:
        return json.dumps(PURGED)
    if not isinstance(document, dict):
        return json.dumps(PURGED)
    redacted: dict[str, Any] = {k: (v if k in KEPT_ENVELOPE else PURGED) for k, v in document.items()}
    data = document.get("data")
    if isinstance(data, dict):
        redacted["data"] = {k: (v if k in KEPT_EVENT_DATA or v is None else PURGED) for k, v in data.items()}
    elif "data" in document:
        redacted["data"] = PURGED
    return body if redacted == document else json.dumps(redacted, separators=(",", ":"), ensure_ascii=False)


def redact_callback(body: str) -> str:
    """A stored `escrow.state_changed` callback without its note's text (the rest is states and ids)."""
    try:
        document = json.loads(body)
    except ValueError:
        return json.dumps(PURGED)
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict) or data.get("note") in (None, PURGED):
        return body
    document["data"] = data | {"note": PURGED}
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True, slots=True)
class Purge:
    """What went (or, in a dry run, would go) for one closed ticket."""

    order_id: str
    guild_id: int
    closed_at: datetime
    files: int
    file_bytes: int
    request_emails: int
    order_records: int
    event_bodies: int
    callback_notes: int
    audit_notes: int

    def describe(self) -> str:
        """The purge's audit note: a count per kind, nothing personal."""
        return (
            f"retention purge: {self.files} transcript files ({human_size(self.file_bytes)}), "
            f"{self.request_emails} request emails, {self.order_records} order records, "
            f"{self.event_bodies} event bodies, {self.callback_notes} callback notes, {self.audit_notes} audit notes"
        )


def _files(directory: Path) -> tuple[int, int]:
    if not directory.is_dir():
        return 0, 0
    files = [path for path in directory.rglob("*") if path.is_file()]
    return len(files), sum(path.stat().st_size for path in files)


def _delete(directory: Path) -> None:
    if directory.is_dir():
        shutil.rmtree(directory)
    for parent in (directory.parent, directory.parent.parent):  # the guild's folder, then `transcripts/`
        try:
            os.rmdir(parent)  # only when empty
        except OSError:
            break


class Retention:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, data_dir: str | os.PathLike[str], retention_days: int
    ) -> None:
        self._sessions = sessions
        self._data_dir = Path(data_dir)
        self._keep = timedelta(days=retention_days)

    def cutoff(self, now: datetime | None = None) -> datetime:
        return (now or utcnow()) - self._keep

    def _directory(self, guild_id: int, order_id: str) -> Path:
        return transcript_dir(self._data_dir, guild_id, order_id)

    @staticmethod
    async def _bodies(session: AsyncSession, order_id: str) -> tuple[dict[int, str], dict[int, str]]:
        """The order's event and callback bodies that redaction changes, redacted, by id."""
        events = await repo.event_bodies(session=session, order_id=order_id)
        callbacks = await repo.callback_bodies(session=session, order_id=order_id)
        return (
            {i: redacted for i, body in events if (redacted := redact_event(body)) != body},
            {i: redacted for i, body in callbacks if (redacted := redact_callback(body)) != body},
        )

    async def plan(self, *, now: datetime | None = None) -> list[Purge]:
        """A dry run: what a purge now would remove, ticket by ticket. Changes nothing."""
        plans = []
        async with self._sessions() as session:
            for ticket in await repo.due_tickets(session=session, closed_before=self.cutoff(now)):
                assert ticket.closed_at is not None
                files, size = await asyncio.to_thread(_files, self._directory(ticket.guild_id, ticket.order_id))
                events, callbacks = await self._bodies(session, ticket.order_id)
                plans.append(
                    Purge(
                        order_id=ticket.order_id,
                        guild_id=ticket.guild_id,
                        closed_at=ticket.closed_at,
                        files=files,
                        file_bytes=size,
                        request_emails=await repo.count_request_emails(session=session, order_id=ticket.order_id),
                        order_records=await repo.count_order_records(session=session, order_id=ticket.order_id),
                        event_bodies=len(events),
                        callback_notes=len(callbacks),
                        audit_notes=await repo.count_audit_notes(session=session, order_id=ticket.order_id),
                    )
                )
        return plans

    async def purge_one(self, order_id: str, *, now: datetime | None = None) -> Purge | None:
        """Purge one order's records if its ticket is (still) due; None if it is not, or was purged already."""
        now = now or utcnow()
        async with self._sessions.begin() as session:
            ticket = await repo.claim(session=session, order_id=order_id, closed_before=self.cutoff(now), now=now)
            if ticket is None or ticket.closed_at is None:
                return None
            events, callbacks = await self._bodies(session, order_id)
            for event_id, body in events.items():
                await repo.set_event_body(session=session, event_id=event_id, body=body)
            for callback_id, body in callbacks.items():
                await repo.set_callback_body(session=session, callback_id=callback_id, body=body)
            directory = self._directory(ticket.guild_id, order_id)
            files, size = await asyncio.to_thread(_files, directory)
            done = Purge(
                order_id=order_id,
                guild_id=ticket.guild_id,
                closed_at=ticket.closed_at,
                files=files,
                file_bytes=size,
                request_emails=await repo.purge_request_emails(session=session, order_id=order_id),
                order_records=await repo.purge_order_records(session=session, order_id=order_id),
                event_bodies=len(events),
                callback_notes=len(callbacks),
                audit_notes=await repo.purge_audit_notes(session=session, order_id=order_id),
            )
            state = await repo.escrow_state(session=session, order_id=order_id) or "none"
            record = audit.Record(order_id, ACTION, ACTOR, ROLE, state, state, note=done.describe())
            await audit.append(session=session, record=record, at=now)
            # Last: a failure here rolls the purge back, and the next run tries again.
            await asyncio.to_thread(_delete, directory)
        log.info("purged the records of order %s (closed %s): %s", order_id, done.closed_at.date(), done.describe())
        return done

    async def purge(
        self, *, now: datetime | None = None, on_purged: Callable[[Purge | None], None] | None = None
    ) -> list[Purge]:
        """Purge every due ticket, one transaction each; `on_purged` is called after each (for a progress bar)."""
        async with self._sessions() as session:
            order_ids = [t.order_id for t in await repo.due_tickets(session=session, closed_before=self.cutoff(now))]
        done = []
        for order_id in order_ids:
            purged = await self.purge_one(order_id, now=now)
            if purged is not None:
                done.append(purged)
            if on_purged is not None:
                on_purged(purged)
        return done


class DailyPurge(PollingWorker):
    """The daily job of PRODUCT.md §5: at start and then once a day, purge every closed ticket past its retention.

    Safe beside other processes running it (each ticket is claimed in its own transaction by `purge_one`) and
    after a restart (a ticket purged already is not due any more). A pass that fails is tried again at the next
    poll; the day counts as done only once a pass went through."""

    name = "guarantor-retention"

    def __init__(
        self, retention: Retention, *, clock: Callable[[], datetime] = utcnow, poll_seconds: float = POLL_SECONDS
    ) -> None:
        super().__init__(poll_seconds=poll_seconds)
        self._retention = retention
        self.clock = clock
        self.last_day: date | None = None  # the day of the last pass that went through

    async def work(self) -> int:
        now = self.clock()
        if self.last_day == now.date():
            return 0
        done = await self._retention.purge(now=now)
        self.last_day = now.date()
        if done:
            log.info("retention: purged the records of %d closed tickets", len(done))
        return 0  # one pass a day: the next comes by the clock, not by more work
