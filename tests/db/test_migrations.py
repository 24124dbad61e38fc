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


async def test_one_claim_moves_escrow_claims_to_tickets_and_gives_every_order_an_escrow(
    empty_database_url: str,
) -> None:
    """0006: a claim kept only on the escrow moves to its ticket; orders from before escrows get one."""
    from alembic import command

    from bot.db.migrate import alembic_config

    def upgrade_to(sync_connection: object, revisions: list[str]) -> None:
        config = alembic_config()
        config.attributes["connection"] = sync_connection
        for revision in revisions:
            command.upgrade(config, revision)

    engine = create_engine(empty_database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade_to, ["0005_ticket_queue_index", "0003_escrow"])
            for order_id in ("ord_old", "ord_claimed"):
                await connection.execute(
                    text(
                        "INSERT INTO orders (id, terms_event_id, gig_url, gig_key, seller_email, buyer_email, amount, "
                        "currency, delivery_due, deliverables, agreed_at, terms_version, created_at, updated_at) "
                        "VALUES (:id, 'e', 'https://opentaskai.com/g', 'opentaskai.com/g', 's@x.io', 'b@x.io', 1, "
                        "'USD', CURRENT_TIMESTAMP, 'd', CURRENT_TIMESTAMP, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                    ),
                    {"id": order_id},
                )
            await connection.execute(
                text(
                    "INSERT INTO escrows (order_id, state, version, claimed_by, created_at, updated_at) "
                    "VALUES ('ord_claimed', 'funded', 2, 4242, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
            await connection.execute(
                text(
                    "INSERT INTO tickets (order_id, guild_id, state, freelancer_id, created_at, updated_at) "
                    "VALUES ('ord_claimed', 1, 'open', 7, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
        await upgrade(engine)
        async with engine.connect() as connection:
            escrows = (await connection.execute(text("SELECT order_id, state, version FROM escrows"))).all()
            claims = (await connection.execute(text("SELECT order_id, claimed_by FROM tickets"))).all()
            columns = await connection.run_sync(lambda sync: [c["name"] for c in inspect(sync).get_columns("escrows")])
        assert sorted(tuple(row) for row in escrows) == [
            ("ord_claimed", "funded", 2),
            ("ord_old", "awaiting_funding", 0),
        ]
        assert [tuple(row) for row in claims] == [("ord_claimed", 4242)]
        assert "claimed_by" not in columns
    finally:
        await engine.dispose()
