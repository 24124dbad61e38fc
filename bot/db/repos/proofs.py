"""Queries on email one-time codes and failed checks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.db.core import rowcount
from bot.db.models import EmailCode, ProofFailure


async def code_of(*, session: AsyncSession, user_id: int, subject: str) -> EmailCode | None:
    """The person's one code for this subject (live, used or spent), read afresh."""
    query = select(EmailCode).where(col(EmailCode.user_id) == user_id, col(EmailCode.subject) == subject)
    return (await session.scalars(query.execution_options(populate_existing=True))).first()


async def by_token(*, session: AsyncSession, token: str) -> EmailCode | None:
    query = select(EmailCode).where(col(EmailCode.token) == token)
    return (await session.scalars(query.execution_options(populate_existing=True))).first()


async def replace(*, session: AsyncSession, code_id: int, seen_token: str, values: dict[str, Any]) -> bool:
    """A new code in place of the one read (`seen_token`); False when it changed meanwhile (a racing request)."""
    statement = (
        update(EmailCode)
        .where(col(EmailCode.id) == code_id, col(EmailCode.token) == seen_token)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return rowcount(await session.execute(statement)) == 1


async def count_try(*, session: AsyncSession, code_id: int, attempts: int, used_at: datetime | None) -> bool:
    """Record one try of a code (and, with `used_at`, that it was right): compare-and-set on the tries seen,
    so two tries at once count twice and one code is used once."""
    statement = (
        update(EmailCode)
        .where(col(EmailCode.id) == code_id, col(EmailCode.attempts) == attempts, col(EmailCode.used_at).is_(None))
        .values(attempts=attempts + 1, used_at=used_at)
        .execution_options(synchronize_session=False)
    )
    return rowcount(await session.execute(statement)) == 1


async def add_failure(*, session: AsyncSession, user_id: int, subject: str, at: datetime) -> None:
    session.add(ProofFailure(user_id=user_id, subject=subject, at=at))
    await session.flush()


async def failures(*, session: AsyncSession, since: datetime, user_id: int, subject: str) -> tuple[int, int]:
    """Failed checks since `since`: of this person (any subject), and about this subject (anyone's), in one read."""
    mine = func.coalesce(func.sum(case((col(ProofFailure.user_id) == user_id, 1), else_=0)), 0)
    about = func.coalesce(func.sum(case((col(ProofFailure.subject) == subject, 1), else_=0)), 0)
    query = select(mine, about).where(
        col(ProofFailure.at) >= since, or_(col(ProofFailure.user_id) == user_id, col(ProofFailure.subject) == subject)
    )
    person, subject_count = (await session.execute(query)).one()
    return int(person), int(subject_count)


async def forget_failures(*, session: AsyncSession, before: datetime) -> int:
    """Failed checks too old to count any more."""
    return rowcount(await session.execute(delete(ProofFailure).where(col(ProofFailure.at) < before)))


async def void_for_order(*, session: AsyncSession, order_id: str, purpose: str) -> int:
    """The order's email for `purpose` changed: codes mailed to the old address are expired (as of when they were
    made, whatever clock the proof keeps), so none is ever redeemed."""
    statement = (
        update(EmailCode)
        .where(
            col(EmailCode.order_id) == order_id,
            col(EmailCode.purpose) == purpose,
            col(EmailCode.used_at).is_(None),
        )
        .values(expires_at=col(EmailCode.created_at))
        .execution_options(synchronize_session=False)
    )
    return rowcount(await session.execute(statement))
