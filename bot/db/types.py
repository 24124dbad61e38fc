"""Column types shared by the models: aware UTC timestamps, snowflakes, money."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Integer, Numeric
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp on every backend.

    PostgreSQL keeps the offset (`timestamptz`); SQLite stores text without one, so values
    are normalised to UTC on the way in and marked UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# Discord snowflakes are 64-bit; a plain INTEGER is 32-bit on PostgreSQL.
Snowflake = BigInteger
# Auto-incrementing 64-bit keys; SQLite only auto-increments a column typed exactly INTEGER.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
# Money: up to 16 digits before the point, always 2 after.
Money = Numeric(18, 2, asdecimal=True)
