"""Fixtures shared by the ticket-service tests: a recording opener, the service, and a processor
that feeds it agreed orders (tests/services/test_tickets.py adds its after-commit step)."""

from __future__ import annotations

import pytest

from bot.services.orders import OrderBook
from bot.services.processing import EventProcessor
from bot.services.tickets import TicketService
from tests.services.helpers import Sessions
from tests.services.test_tickets import RecordingOpener


@pytest.fixture
def opener() -> RecordingOpener:
    return RecordingOpener()


@pytest.fixture
def service(sessions: Sessions, opener: RecordingOpener) -> TicketService:
    tickets = TicketService(sessions, marketplace_host="opentaskai.com", pending_hours=72)
    tickets.attach(opener)
    return tickets


@pytest.fixture
def processor(sessions: Sessions, service: TicketService) -> EventProcessor:
    book = OrderBook()
    book.add_hook(service.on_order_event)
    return EventProcessor(sessions, book)
