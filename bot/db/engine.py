"""The async engine and session factory for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 10_000
# PostgreSQL: nobody waits on a stalled peer for long. A receiver whose transaction hangs holds its rows'
# locks; others give up on them after `lock_timeout` (their batch answers 503 and is sent again) instead
# of queueing every later event behind it. Migrations lift both for their own transaction.
POSTGRES_SETTINGS = {"lock_timeout": "2000", "statement_timeout": "15000"}


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Durable means it survives power loss: WAL with synchronous=FULL (PostgreSQL's default).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Build the engine; SQLite gets its folder created and its pragmas set on every connection.

    Bound parameters (emails, event bodies) never appear in SQL errors, so neither in logs nor in the
    error texts stored beside failed work (`hide_parameters`)."""
    kwargs.setdefault("hide_parameters", True)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        return engine
    kwargs.setdefault("connect_args", {"server_settings": dict(POSTGRES_SETTINGS)})
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


AUDIT_KEY_INFO = "audit_key"  # where a session carries `AUDIT_KEY` for the audit chain (`session.info`)


def create_sessionmaker(engine: AsyncEngine, *, audit_key: bytes | None = None) -> async_sessionmaker[AsyncSession]:
    """Sessions for one unit of work each. `audit_key` (`AUDIT_KEY`) travels in every session's `info`, so the
    audit chain's appends are keyed wherever a transition happens, without passing the key through each caller."""
    return async_sessionmaker(engine, expire_on_commit=False, info={AUDIT_KEY_INFO: audit_key})
