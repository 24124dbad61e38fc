"""A webhook app on the real intake, verifier and test database, driven over HTTP."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.db.models import WebhookEvent
from bot.runtime import Runtime
from bot.services.events.intake import EventIntake
from bot.services.signing import SignatureVerifier
from bot.settings import Settings
from tests.conftest import TEST_SECRET
from webhooks import create_app

ROTATED_SECRET = "whsec_" + base64.b64encode(b"second-rotation-key-0123").decode()
PATH = "/webhooks/marketplace"

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """Only its health probe is used; it is never started."""
    runtime = Runtime(settings)
    yield runtime
    await runtime.engine.dispose()


@pytest.fixture
async def intake(engine: AsyncEngine) -> AsyncIterator[EventIntake]:
    intake = EventIntake(engine)
    intake.start()
    yield intake
    await intake.close()


@pytest.fixture
async def client(aiohttp_client: ClientFactory, intake: EventIntake, runtime: Runtime) -> TestClient[Any, Any]:
    verifier = SignatureVerifier([TEST_SECRET, ROTATED_SECRET])
    return await aiohttp_client(create_app(intake=intake, verifier=verifier, health=runtime, metrics=runtime.metrics))


@pytest.fixture
async def broken_engine() -> AsyncIterator[AsyncEngine]:
    """An engine whose database cannot be opened (its folder does not exist)."""
    engine = create_async_engine("sqlite+aiosqlite:////nonexistent-guarantor-dir/sub/db.sqlite")
    yield engine
    await engine.dispose()


async def stored(engine: AsyncEngine) -> list[WebhookEvent]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(WebhookEvent.__table__).order_by(WebhookEvent.id))  # type: ignore[attr-defined,arg-type]
        return [WebhookEvent(**row._mapping) for row in rows]


async def count_events(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(WebhookEvent)) or 0)  # type: ignore[arg-type]
