"""The engine: SQLite pragmas (WAL, foreign keys, busy timeout), folder creation, URL handling."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from bot.db.engine import SQLITE_BUSY_TIMEOUT_MS, create_engine, create_sessionmaker, is_sqlite


async def test_sqlite_pragmas_and_folder(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "g.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.connect() as connection:
            values = {
                name: (await connection.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
        assert values == {
            "journal_mode": "wal",
            "foreign_keys": 1,
            "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
            "synchronous": 2,
        }
        assert path.exists()
    finally:
        await engine.dispose()


async def test_sessions_do_not_expire_on_commit(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}")
    try:
        assert create_sessionmaker(engine).kw["expire_on_commit"] is False
    finally:
        await engine.dispose()


def test_is_sqlite() -> None:
    assert is_sqlite("sqlite+aiosqlite:///x.db")
    assert not is_sqlite("postgresql+asyncpg://u@h/db")


async def test_engine_on_the_test_database_answers(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await engine.dispose()
