"""No personal data in SQL errors, logs or stored error texts (PRODUCT.md §7): the engines hide bound
parameters, and what is stored in `last_error` keeps neither values nor bodies."""

from __future__ import annotations

import logging

import pytest
from pydantic import BaseModel, ValidationError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import create_engine, create_sessionmaker
from bot.logs import configure_logging
from bot.services.errors import error_text
from bot.services.events.contract import MarketplaceEvent
from bot.services.events.order_book import AppliedEvent, OrderBook
from bot.services.events.processor import EventProcessor
from tests.services.helpers import escrow_step, event_row, store
from tests.webhooks.events import agreed

SECRET = "jane.secret@example.com"


async def test_an_sql_error_does_not_carry_its_bound_parameters(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        with pytest.raises(DBAPIError) as raised:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT * FROM no_such_table WHERE email = :email"), {"email": SECRET})
        assert SECRET not in str(raised.value) and "parameters hidden" in str(raised.value)
        assert SECRET not in error_text(raised.value) and "no_such_table" in error_text(raised.value)
    finally:
        await engine.dispose()


class FailingBook(OrderBook):
    """An order book whose SQL fails with an email among its bound parameters."""

    async def apply(self, session: AsyncSession, event: MarketplaceEvent, webhook_id: str) -> AppliedEvent:
        await session.execute(text("INSERT INTO no_such_table (email) VALUES (:email)"), {"email": SECRET})
        raise AssertionError("unreachable")


async def test_a_failed_event_stores_and_logs_no_parameters(database_url: str, caplog: pytest.LogCaptureFixture):
    engine = create_engine(database_url)
    sessions = create_sessionmaker(engine)
    try:
        await store(sessions, "m1", agreed("o1", seller={"email": SECRET}))
        processor = EventProcessor(sessions, FailingBook(escrow_step(sessions)))
        with caplog.at_level(logging.INFO):
            await processor.process_due()
        row = await event_row(sessions, "m1")
        assert row.last_error is not None and "no_such_table" in row.last_error
        assert SECRET not in row.last_error and "INSERT" not in row.last_error
        assert "processing event" in caplog.text and SECRET not in caplog.text
    finally:
        await engine.dispose()


def test_a_validation_error_is_stored_without_the_values_it_refused() -> None:
    class Party(BaseModel):
        email: int

    with pytest.raises(ValidationError) as raised:
        Party.model_validate({"email": SECRET})
    assert SECRET in str(raised.value)  # pydantic quotes the input
    assert error_text(raised.value) == "ValidationError: email: int_parsing"


def test_other_errors_keep_their_text_within_the_limit() -> None:
    assert error_text(RuntimeError("Discord said no")) == "RuntimeError: Discord said no"
    assert len(error_text(RuntimeError("x" * 5000))) == 2000


def test_debug_logging_leaves_the_database_drivers_statements_out() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("DEBUG")
        assert not logging.getLogger("aiosqlite").isEnabledFor(logging.DEBUG)  # it logs bound values there
        assert logging.getLogger("bot").isEnabledFor(logging.DEBUG)
    finally:
        root.handlers[:], root.level = handlers, level
        logging.getLogger("aiosqlite").setLevel(logging.NOTSET)
