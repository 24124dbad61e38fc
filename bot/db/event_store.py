"""Batch inserts of webhook events: one transaction per batch, returning the new ids.

On SQLite the batch runs on one dedicated thread with the standard library's `sqlite3`
(one thread hop per batch instead of several per statement); elsewhere it goes through
SQLAlchemy's async engine with a multi-row `INSERT … ON CONFLICT DO NOTHING RETURNING`.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Protocol

from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.core import table_of
from bot.db.engine import SQLITE_BUSY_TIMEOUT_MS, sqlite_pragmas
from bot.db.models import EventStatus, WebhookEvent
from bot.db.types import utcnow


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    webhook_id: str
    type: str
    order_id: str | None
    body: str
    received_at: datetime = field(default_factory=utcnow)


_COLUMNS = ("webhook_id", "type", "order_id", "body", "received_at", "status", "attempts")


class EventStore(Protocol):
    async def insert_new(self, events: Sequence[IncomingEvent]) -> set[str]:
        """Insert the events whose webhook id is not stored yet; return those ids."""

    async def close(self) -> None: ...


def _row(event: IncomingEvent) -> dict[str, object]:
    return {
        "webhook_id": event.webhook_id,
        "type": event.type,
        "order_id": event.order_id,
        "body": event.body,
        "received_at": event.received_at,
        "status": EventStatus.PENDING.value,
        "attempts": 0,
    }


class SqlAlchemyEventStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        table = table_of(WebhookEvent)
        # Built once; executed with a list of rows, SQLAlchemy's "insertmanyvalues" sends
        # multi-row INSERTs from one cached compilation.
        self._statement = (
            postgresql.insert(table).on_conflict_do_nothing(index_elements=["webhook_id"]).returning(table.c.webhook_id)
        )

    async def insert_new(self, events: Sequence[IncomingEvent]) -> set[str]:
        async with self._engine.begin() as connection:
            result = await connection.execute(self._statement, [_row(e) for e in events])
            return {row[0] for row in result}

    async def close(self) -> None:
        return None


class SqliteEventStore:
    """A private `sqlite3` connection on a single thread, with the engine's pragmas.

    A batch is one multi-row `INSERT` run in autocommit mode: one statement is one
    transaction, committed (and, with `synchronous=FULL`, synced) before `execute` returns.
    One statement per batch, not one per event, because the `sqlite3` module releases the GIL
    around every step and must win it back from the busy event loop thread each time. Only a
    batch holding an id that is already stored (a redelivery) fails as a whole and is run
    again as `INSERT … ON CONFLICT DO NOTHING RETURNING`, one step per new row.
    """

    _INSERT = f"INSERT INTO webhook_events ({', '.join(_COLUMNS)}) VALUES "
    _ROW = f"({', '.join('?' * len(_COLUMNS))})"
    _SKIP_STORED = " ON CONFLICT (webhook_id) DO NOTHING RETURNING webhook_id"

    def __init__(self, path: str) -> None:
        self._path = path
        self._executor: ThreadPoolExecutor | None = None
        self._connection: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(
                self._path,
                timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=32,
            )
            sqlite_pragmas(connection, None)
            self._connection = connection
        return self._connection

    @classmethod
    @lru_cache(maxsize=64)
    def _statement(cls, rows: int, *, skip_stored: bool) -> str:
        return cls._INSERT + ", ".join([cls._ROW] * rows) + (cls._SKIP_STORED if skip_stored else "")

    def _insert(self, events: Sequence[IncomingEvent]) -> set[str]:
        if not events:
            return set()
        pending = EventStatus.PENDING.value
        parameters: list[object] = []
        for event in events:
            # Same text form as SQLAlchemy's SQLite DATETIME, in UTC (see UTCDateTime).
            received = event.received_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            parameters += (event.webhook_id, event.type, event.order_id, event.body, received, pending, 0)
        connection = self._connect()
        try:
            connection.execute(self._statement(len(events), skip_stored=False), parameters)
        except sqlite3.IntegrityError:
            # Some id is stored already: nothing of this statement was written; skip the stored ones.
            cursor = connection.execute(self._statement(len(events), skip_stored=True), parameters)
            return {row[0] for row in cursor.fetchall()}
        return {event.webhook_id for event in events}

    async def insert_new(self, events: Sequence[IncomingEvent]) -> set[str]:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="guarantor-sqlite-writer")
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._insert, events)

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        """Close the connection; a later `insert_new` opens a new one."""
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.get_running_loop().run_in_executor(executor, self._close)
            executor.shutdown(wait=True)


# RETURNING (3.35) and 32,766 bound variables a statement (3.32): a batch of MAX_BATCH events.
SQLITE_MINIMUM = (3, 35, 0)


class UnsupportedDatabase(RuntimeError):
    """The database cannot store webhook events as this build needs."""


def create_event_store(engine: AsyncEngine) -> EventStore:
    url = make_url(engine.url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        if sqlite3.sqlite_version_info < SQLITE_MINIMUM:
            raise UnsupportedDatabase(
                f"SQLite {sqlite3.sqlite_version} is too old to store webhook events: "
                f"{'.'.join(map(str, SQLITE_MINIMUM))} or newer is needed (or use PostgreSQL)"
            )
        return SqliteEventStore(url.database)
    return SqlAlchemyEventStore(engine)
