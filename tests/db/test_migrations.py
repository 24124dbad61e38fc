"""Migrations: every head applies on an empty database; a second run is a no-op."""

from __future__ import annotations

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.engine import create_engine
from bot.db.migrate import current_revisions, head_revisions, upgrade


async def test_upgrade_empty_database_then_noop(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    try:
        assert await current_revisions(engine) == ()
        before, after = await upgrade(engine)
        assert before == ()
        assert after == head_revisions()
        assert after and all(isinstance(rev, str) for rev in after)
        again = await upgrade(engine)
        assert again == (after, after)
        async with engine.connect() as connection:
            tables = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
        assert {"webhook_events", "orders", "order_terms", "alembic_version"} <= tables
        async with engine.connect() as connection:
            stamped = sorted((await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars())
        assert tuple(stamped) == head_revisions()
    finally:
        await engine.dispose()


async def test_migrated_schema_matches_the_models(engine: AsyncEngine) -> None:
    """Autogenerate finds nothing to do: every model change came with its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import bot.db.models  # noqa: F401  (registers the tables)

    def diff(sync_connection: object) -> list[object]:
        context = MigrationContext.configure(sync_connection, opts={"compare_type": False})  # type: ignore[arg-type]
        return list(compare_metadata(context, SQLModel.metadata))

    async with engine.connect() as connection:
        differences = await connection.run_sync(diff)
    assert differences == []


async def test_migrations_run_from_the_cli_path(engine: AsyncEngine) -> None:
    # The fixture already migrated: heads are current.
    assert await current_revisions(engine) == head_revisions()
