"""0007_retention: `tickets.purged_at` comes and goes without touching the rest of the table."""

from __future__ import annotations

from sqlalchemy import inspect, text

from bot.db.engine import create_engine
from bot.db.migrate import alembic_config, upgrade


async def test_purged_at_is_added_and_dropped_in_place(empty_database_url: str) -> None:
    from alembic import command

    def step(sync_connection: object, how: str, revision: str) -> None:
        config = alembic_config()
        config.attributes["connection"] = sync_connection
        getattr(command, how)(config, revision)

    def columns_and_indexes(sync_connection: object) -> tuple[set[str], set[str]]:
        inspector = inspect(sync_connection)
        names = {c["name"] for c in inspector.get_columns("tickets")}
        if sync_connection.dialect.name == "sqlite":  # type: ignore[attr-defined]
            query = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tickets'"
        else:
            query = "SELECT indexname FROM pg_indexes WHERE tablename = 'tickets'"
        return names, set(sync_connection.execute(text(query)).scalars())  # type: ignore[attr-defined]

    engine = create_engine(empty_database_url)
    try:
        await upgrade(engine)
        async with engine.begin() as connection:
            columns, indexes = await connection.run_sync(columns_and_indexes)
            assert "purged_at" in columns and "ix_tickets_live_queue" in indexes
            await connection.run_sync(step, "downgrade", "0007_retention-1")
            columns, after = await connection.run_sync(columns_and_indexes)
            assert "purged_at" not in columns and after == indexes
            await connection.run_sync(step, "upgrade", "0007_retention")
            columns, again = await connection.run_sync(columns_and_indexes)
            assert "purged_at" in columns and again == indexes
    finally:
        await engine.dispose()
