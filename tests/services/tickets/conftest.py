"""Fixtures shared by the ticket-service tests: a recording opener, the service, and a processor
that feeds it agreed orders (tests/services/tickets/test_service.py adds its after-commit step)."""

from __future__ import annotations

import pytest

from bot.services.effects import EffectWorker
from bot.services.events.processor import EventProcessor
from bot.services.tickets.service import TicketService
from tests.services.helpers import Sessions, order_book
from tests.services.tickets.test_service import RecordingOpener


@pytest.fixture
def opener() -> RecordingOpener:
    return RecordingOpener()


@pytest.fixture
def service(sessions: Sessions, opener: RecordingOpener) -> TicketService:
    tickets = TicketService(sessions, marketplace_host="opentaskai.com", pending_hours=72)
    tickets.attach(opener)
    return tickets


class ReadyDiscord:
    """The Discord side of the escrow's effects, connected; these tests make no escrow changes."""

    def ready(self) -> bool:
        return True

    async def refresh_summary(self, snapshot: object) -> None:
        raise AssertionError("no escrow effects here")

    post_line = tell = refresh_summary


@pytest.fixture
def worker(sessions: Sessions, service: TicketService) -> EffectWorker:
    worker = EffectWorker(sessions, service.channels)
    worker.attach(ReadyDiscord())  # type: ignore[arg-type]
    return worker


@pytest.fixture
def processor(sessions: Sessions, service: TicketService, worker: EffectWorker) -> EventProcessor:
    return EventProcessor(sessions, order_book(sessions), worker)
