"""The database goes away under the webhook server: 503 (never 500) while it is gone, and the
server recovers by itself, losing nothing it acknowledged."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db import engine as engine_module
from bot.db import event_store
from bot.db.engine import create_engine
from bot.db.event_store import EventStore, IncomingEvent, create_event_store
from bot.runtime import Runtime
from bot.services.events.intake import EventIntake
from bot.services.signing import SignatureVerifier
from tests.conftest import TEST_SECRET
from tests.webhooks.conftest import PATH, ClientFactory, stored
from tests.webhooks.events import agreed, dumps, signed_headers
from webhooks import create_app

Client = TestClient[Any, Any]


async def post(client: Client, n: int) -> int:
    body = dumps(agreed(f"ord_{n}"))
    response = await client.post(PATH, data=body, headers=signed_headers(body, msg_id=f"msg_{n}"))
    if response.status == 503:
        answer = await response.json()
        assert answer["error"] == "unavailable" and answer["retry_after"] > 0
    return response.status


class OutageStore:
    """The real store, failing like a lost database while `down` is set."""

    def __init__(self, inner: EventStore) -> None:
        self.inner, self.down, self.failures = inner, False, 0

    async def insert_new(self, events: Sequence[IncomingEvent]) -> set[str]:
        if self.down:
            self.failures += 1
            raise sqlite3.OperationalError("disk I/O error")
        return await self.inner.insert_new(events)

    async def close(self) -> None:
        await self.inner.close()


async def test_store_errors_give_503_then_the_next_request_is_stored(
    aiohttp_client: ClientFactory, engine: AsyncEngine, runtime: Runtime
) -> None:
    store = OutageStore(create_event_store(engine))
    intake = EventIntake(engine, store=store)
    intake.start()
    try:
        client = await aiohttp_client(
            create_app(intake=intake, verifier=SignatureVerifier([TEST_SECRET]), health=runtime)
        )
        assert await post(client, 0) == 202
        store.down = True
        statuses = await asyncio.gather(*(post(client, n) for n in range(1, 40)))
        assert set(statuses) == {503} and store.failures >= 1
        store.down = False
        # The sender retries: every event it was refused is stored now, once.
        assert await asyncio.gather(*(post(client, n) for n in range(40))) == [200] + [202] * 39
        assert sorted(r.webhook_id for r in await stored(engine)) == sorted(f"msg_{n}" for n in range(40))
        assert (await client.get("/healthz")).status == 200
    finally:
        await intake.close()


@pytest.fixture
def sqlite_path(database_url: str) -> str:
    if make_url(database_url).get_backend_name() != "sqlite":
        pytest.skip("an SQLite file lock")
    return make_url(database_url).database or ""


async def test_sqlite_locked_by_another_process_gives_503_then_recovers(
    client: Client, engine: AsyncEngine, sqlite_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A short busy timeout, so "locked" shows within the test instead of after 10 s.
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 200)
    monkeypatch.setattr(event_store, "SQLITE_BUSY_TIMEOUT_MS", 200)
    assert await post(client, 0) == 202
    locker = sqlite3.connect(sqlite_path, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        assert await asyncio.gather(*(post(client, n) for n in range(1, 6))) == [503] * 5
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert [await post(client, n) for n in range(1, 6)] == [202] * 5
    assert len(await stored(engine)) == 6
    assert (await client.get("/healthz")).status == 200


@pytest.fixture
async def tagged_engine(database_url: str) -> AsyncIterator[tuple[AsyncEngine, str]]:
    """A PostgreSQL engine whose connections carry a unique application_name, so only they are killed."""
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("pg_terminate_backend needs PostgreSQL")
    name = f"guarantor-outage-{uuid.uuid4().hex[:8]}"
    engine = create_engine(database_url, connect_args={"server_settings": {"application_name": name}})
    yield engine, name
    await engine.dispose()


async def test_postgres_connections_terminated_then_recovered(
    aiohttp_client: ClientFactory, engine: AsyncEngine, tagged_engine: tuple[AsyncEngine, str]
) -> None:
    victim, name = tagged_engine
    intake = EventIntake(victim)
    intake.start()
    probe = _EngineProbe(victim)
    try:
        client = await aiohttp_client(
            create_app(intake=intake, verifier=SignatureVerifier([TEST_SECRET]), health=probe)
        )
        assert await asyncio.gather(*(post(client, n) for n in range(8))) == [202] * 8  # the pool holds connections
        assert (await client.get("/healthz")).status == 200
        async with engine.connect() as admin:
            query = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = :name"
            killed = await admin.scalar(text(query), {"name": name})
        assert killed and killed >= 1
        statuses = [await post(client, n) for n in range(8, 20)]
        assert set(statuses) <= {202, 503}, statuses  # a dead connection is a 503 at worst, never a 500
        assert statuses[-3:] == [202] * 3, statuses  # and the pool recovers by itself
        retried = [await post(client, n) for n in range(8, 20) if statuses[n - 8] == 503]
        assert set(retried) <= {202}
        assert len(await stored(engine)) == 20
        assert (await client.get("/healthz")).status == 200
    finally:
        await intake.close()


class _EngineProbe:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def database_ok(self) -> bool:
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def discord_status(self) -> str:
        return "disabled"
