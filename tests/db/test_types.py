"""Column types: aware timestamps, exact money, 64-bit snowflakes, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, select
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.types import BigIntPK, Money, Snowflake, UTCDateTime, utcnow

metadata = MetaData()
probe = Table(
    "type_probe",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime),
    Column("money", Money),
    Column("snowflake", Snowflake),
    Column("n", Integer),
)


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    async with engine.begin() as connection:
        await connection.run_sync(metadata.drop_all)


async def roundtrip(db: AsyncEngine, **values: object) -> dict[str, object]:
    async with db.begin() as connection:
        new_id = (await connection.execute(probe.insert().values(**values).returning(probe.c.id))).scalar_one()
        row = (await connection.execute(select(probe).where(probe.c.id == new_id))).one()
    return dict(row._mapping)


def test_utcnow_is_aware() -> None:
    assert utcnow().tzinfo is not None and utcnow().utcoffset() == timedelta(0)


async def test_aware_datetimes_round_trip_as_utc(db: AsyncEngine) -> None:
    plus_two = datetime(2026, 12, 1, 17, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    row = await roundtrip(db, at=plus_two)
    at = row["at"]
    assert isinstance(at, datetime)
    assert at == plus_two and at.utcoffset() == timedelta(0)
    assert at == datetime(2026, 12, 1, 15, 0, 0, 123456, tzinfo=UTC)


async def test_naive_datetime_is_refused(db: AsyncEngine) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        await roundtrip(db, at=datetime(2026, 12, 1, 17, 0))


async def test_aware_comparisons_in_sql(db: AsyncEngine) -> None:
    await roundtrip(db, at=datetime(2026, 1, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5))))  # 04:30Z next day
    await roundtrip(db, at=datetime(2026, 1, 2, 3, 0, tzinfo=UTC))
    async with db.connect() as connection:
        later = (
            await connection.execute(select(probe.c.at).where(probe.c.at > datetime(2026, 1, 2, 4, 0, tzinfo=UTC)))
        ).all()
    assert [r[0] for r in later] == [datetime(2026, 1, 2, 4, 30, tzinfo=UTC)]


@pytest.mark.parametrize("amount", ["12.50", "0.01", "120.5", "9999999999999.99", "1234567890123.45"])
async def test_money_is_exact(db: AsyncEngine, amount: str) -> None:
    row = await roundtrip(db, money=Decimal(amount))
    money = row["money"]
    assert isinstance(money, Decimal)
    assert money == Decimal(amount)
    assert str(money) == str(Decimal(amount).quantize(Decimal("0.01")))


async def test_money_sums_in_sql(db: AsyncEngine) -> None:
    from sqlalchemy import func

    for _ in range(10):
        await roundtrip(db, money=Decimal("0.10"))
    async with db.connect() as connection:
        total = (await connection.execute(select(func.sum(probe.c.money)))).scalar_one()
    assert Decimal(total).quantize(Decimal("0.01")) == Decimal("1.00")


@pytest.mark.parametrize("snowflake", [2**63 - 1, 1_234_567_890_123_456_789, 0])
async def test_snowflakes_are_64_bit(db: AsyncEngine, snowflake: int) -> None:
    assert (await roundtrip(db, snowflake=snowflake))["snowflake"] == snowflake


async def test_big_primary_keys_autoincrement(db: AsyncEngine) -> None:
    first = await roundtrip(db, n=1)
    second = await roundtrip(db, n=2)
    assert isinstance(first["id"], int) and second["id"] == first["id"] + 1  # type: ignore[operator]
