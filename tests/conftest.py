"""Shared fixtures: a fresh, migrated database per test (SQLite, or PostgreSQL when
`TEST_DATABASE_URL` is set) and settings pointing at it.

Migrations run once per session; each test gets a copy of the migrated SQLite file, or
the PostgreSQL tables truncated. Tests on PostgreSQL share one database: don't run two
PostgreSQL test sessions at once."""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.migrate import upgrade
from bot.settings import Settings, normalise_database_url
from tests.mailbox import Mailbox, free_port

pytest_plugins = ["tests.harness.plugin"]

TEST_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # 24 random bytes, tests only


def _postgres_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    return normalise_database_url(url) if url else None


async def _migrate_fresh(url: str) -> None:
    engine = create_engine(url)
    try:
        if engine.dialect.name == "postgresql":
            async with engine.begin() as connection:
                await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                await connection.execute(text("CREATE SCHEMA public"))
        await upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(autouse=True)
def _unfreeze_heap() -> Iterator[None]:
    """A test that freezes the heap (`bot.runtime.freeze_heap`) gives its objects back to the
    collector when it ends: this process runs hundreds of bots."""
    yield
    if gc.get_freeze_count():
        gc.unfreeze()


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrate once per session: a SQLite file to copy, or the PostgreSQL schema itself."""
    url = _postgres_url() or f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('template') / 'guarantor.db'}"
    asyncio.run(_migrate_fresh(url))
    return url


async def _truncate_postgres(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            query = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            names = (await connection.execute(text(query))).scalars()
            tables = ", ".join(f'"{name}"' for name in names)
            if tables:
                await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture
async def database_url(_migrated_template: str, tmp_path: Path) -> str:
    """A migrated database with no rows, belonging to this test alone."""
    if _postgres_url() is not None:
        await _truncate_postgres(_migrated_template)
        return _migrated_template
    path = tmp_path / "guarantor.db"
    shutil.copyfile(make_url(_migrated_template).database or "", path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def empty_database_url(tmp_path: Path) -> AsyncIterator[str]:
    """A database with no schema at all (for migration tests)."""
    url = _postgres_url()
    if url is None:
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await engine.dispose()
    yield url
    await _migrate_fresh(url)  # leave the shared schema as the other tests expect it


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        marketplace_webhook_secrets=TEST_SECRET,
        webhook_port=0,
        metrics_port=None,
        data_dir=str(tmp_path / "data"),
    )


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on a free port, with a login; `mailbox.url` is its SMTP_URL."""
    box = Mailbox(free_port())
    box.start()
    yield box
    box.stop()
