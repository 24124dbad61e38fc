"""The database's clock: retry times and leases that several processes compare must come from one clock,
not from each process's own (a process whose clock jumps would otherwise delay or hurry everyone's work)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_NOW = {
    "postgresql": text("SELECT clock_timestamp()"),
    "sqlite": text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"),
}


async def database_now(session: AsyncSession) -> datetime:
    """The database server's current time, as an aware UTC datetime."""
    value = await session.scalar(_NOW[session.get_bind().dialect.name])
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
