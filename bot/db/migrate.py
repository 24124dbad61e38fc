"""Apply Alembic migrations from inside the running event loop.

Several processes may start at once against PostgreSQL; a transaction-level advisory
lock makes them take turns, and the second one finds nothing left to do.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_KEY = 0x6775_6172  # "guar"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@cache
def head_revisions() -> tuple[str, ...]:
    return tuple(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))


def _current(connection: Connection) -> tuple[str, ...]:
    return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))


def _upgrade(connection: Connection) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if connection.dialect.name == "postgresql":
        # Waiting for another process's migration, and building indexes, may take longer than the
        # short timeouts every other transaction runs with.
        connection.execute(text("SET LOCAL lock_timeout = 0"))
        connection.execute(text("SET LOCAL statement_timeout = 0"))
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    before = _current(connection)
    if before == head_revisions():
        return before, before  # nothing to do; skip loading Alembic's environment
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "heads")  # independent branches (one per feature) all apply
    return before, _current(connection)


async def upgrade(engine: AsyncEngine) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Bring the database to the newest revisions; returns (revisions before, revisions after)."""
    async with engine.begin() as connection:
        before, after = await connection.run_sync(_upgrade)
    if before != after:
        log.info("database migrated from %s to %s", ",".join(before) or "empty", ",".join(after))
    return before, after


async def current_revisions(engine: AsyncEngine) -> tuple[str, ...]:
    async with engine.connect() as connection:
        return await connection.run_sync(_current)
