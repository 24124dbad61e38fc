"""Callbacks to the marketplace: signed, at least once, in order per order, retried across restarts."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from aiohttp import web
from sqlalchemy import update
from sqlmodel import col
from standardwebhooks import Webhook

from bot.db.models import Ticket
from bot.db.repos import callbacks as callback_repo
from bot.services.escrow.callbacks import CallbackWorker, backoff
from bot.services.escrow.rules import Action, Role
from bot.settings import Settings
from tests.conftest import TEST_SECRET
from tests.services.escrow.escrow_support import BUYER, FREELANCER, GUILD, OFFICER, Sessions, make_world
from webhooks.callbacks import AiohttpPoster, callback_worker

CALLBACK_SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"  # 24 bytes, tests only


class Receiver:
    """A marketplace endpoint that fails its first `failures` requests."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.accepted: list[dict] = []
        self.ids: list[str] = []
        self.changed = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        body = await request.text()
        Webhook(CALLBACK_SECRET).verify(body, dict(request.headers))  # raises on a bad signature
        if self.calls <= self.failures:
            return web.Response(status=503)
        self.ids.append(request.headers["webhook-id"])
        self.accepted.append(json.loads(body))
        self.changed.set()
        return web.Response(status=204)


@pytest.fixture
async def receiver(aiohttp_server):
    async def make(failures: int) -> tuple[Receiver, str]:
        receiver = Receiver(failures)
        app = web.Application()
        app.router.add_post("/callbacks", receiver.handle)
        server = await aiohttp_server(app)
        return receiver, str(server.make_url("/callbacks"))

    return make


def worker(sessions: Sessions, url: str, poster: AiohttpPoster, retry: timedelta = timedelta(0)) -> CallbackWorker:
    return CallbackWorker(sessions, poster, url=url, secret=CALLBACK_SECRET, retry_after=lambda _n: retry)


async def two_orders_of_history(sessions: Sessions):
    world = make_world(sessions, callbacks_enabled=True)
    for order_id in ("ord_a", "ord_b"):
        await world.order(order_id)
        await world.escrow.act(order_id, Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="P")
        await world.escrow.act(order_id, Action.DELIVER, actor_id=FREELANCER, actor_role=Role.FREELANCER)
    await world.escrow.act("ord_a", Action.APPROVE, actor_id=BUYER, actor_role=Role.BUYER)
    await world.escrow.act("ord_a", Action.RELEASE, actor_id=OFFICER, actor_role=Role.OFFICER)
    await world.escrow.act("ord_b", Action.DISPUTE, actor_id=BUYER, actor_role=Role.BUYER, note="bad")
    return world


async def drain(make_worker, rounds: int = 30) -> None:
    for _ in range(rounds):
        w = make_worker()  # a fresh worker each round: the schedule lives in the database
        await w.deliver_due()
        await w.close()


async def test_every_callback_is_delivered_once_in_order_despite_failures(sessions: Sessions, receiver) -> None:
    world = await two_orders_of_history(sessions)
    rx, url = await receiver(failures=4)
    poster = AiohttpPoster()
    try:
        await drain(lambda: worker(sessions, url, poster))
    finally:
        await poster.close()
    expected = ["esc_ord_a_1", "esc_ord_a_2", "esc_ord_a_4", "esc_ord_b_1", "esc_ord_b_2", "esc_ord_b_3"]
    assert sorted(rx.ids) == expected  # each once
    for order_id in ("ord_a", "ord_b"):
        mine = [i for i in rx.ids if i.startswith(f"esc_{order_id}_")]
        assert mine == sorted(mine, key=lambda i: int(i.rsplit("_", 1)[1]))  # in order per order
    first = next(a for a in rx.accepted if a["data"]["order_id"] == "ord_a")
    assert first["type"] == "escrow.state_changed"
    assert (first["data"]["from"], first["data"]["to"], first["data"]["actor_role"]) == (
        "awaiting_funding",
        "funded",
        "officer",
    )
    async with sessions() as session:
        rows = await callback_repo.for_order(session=session, order_id="ord_a")
    assert [r.status for r in rows] == ["delivered"] * 3
    assert sum(r.attempts for r in await world.outbox()) == 6 + 4


async def test_a_failing_callback_holds_back_later_ones_of_its_order_only(sessions: Sessions, receiver) -> None:
    await two_orders_of_history(sessions)
    rx, url = await receiver(failures=1)
    poster = AiohttpPoster()
    try:
        w = worker(sessions, url, poster, retry=timedelta(minutes=1))
        while await w.deliver_due():  # ord_a #1 fails (and is not due again yet); ord_b's go through
            pass
    finally:
        await poster.close()
    assert rx.ids == ["esc_ord_b_1", "esc_ord_b_2", "esc_ord_b_3"]


async def test_failures_are_recorded_with_a_backoff_schedule(sessions: Sessions) -> None:
    world = await two_orders_of_history(sessions)
    poster = AiohttpPoster(timeout=2)
    try:
        w = CallbackWorker(sessions, poster, url="http://127.0.0.1:9/unreachable", secret=CALLBACK_SECRET)
        assert await w.deliver_due() == 0
        assert await w.deliver_due() == 0  # not due again yet
    finally:
        await poster.close()
    rows = await world.outbox()
    first = rows[0]
    assert (first.status, first.attempts) == ("pending", 1)
    assert "Error" in (first.last_error or "")
    assert first.next_attempt_at > first.created_at
    assert all(r.attempts == 0 for r in rows if r.order_id == "ord_a" and r.id != first.id)


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3)] == [5, 10, 20]
    assert backoff(50) == timedelta(hours=1)


def test_the_worker_exists_only_when_url_and_secret_are_set(database_url: str) -> None:
    base = {"_env_file": None, "database_url": database_url, "marketplace_webhook_secrets": TEST_SECRET}
    poster = AiohttpPoster()
    assert callback_worker(Settings(**base), None, poster) is None  # type: ignore[arg-type]
    url_only = Settings(**base, marketplace_callback_url="http://127.0.0.1:1/cb")
    assert callback_worker(url_only, None, poster) is None  # type: ignore[arg-type]
    both = Settings(
        **base, marketplace_callback_url="http://127.0.0.1:1/cb", marketplace_callback_secret=CALLBACK_SECRET
    )
    assert isinstance(callback_worker(both, None, poster), CallbackWorker)  # type: ignore[arg-type]


async def test_the_running_worker_delivers_when_woken(sessions: Sessions, receiver) -> None:
    world = make_world(sessions, callbacks_enabled=True)
    rx, url = await receiver(failures=2)
    poster = AiohttpPoster()
    w = CallbackWorker(
        sessions, poster, url=url, secret=CALLBACK_SECRET, poll_seconds=0.05, retry_after=lambda _n: timedelta(0)
    )
    world.effects.then = lambda _changes: w.wake()
    w.start()
    try:
        await world.order()
        await world.escrow.act("ord_1", Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="P")
        await world.escrow.act("ord_1", Action.REFUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="why")
        async with asyncio.timeout(10):
            while len(rx.ids) < 2:
                await rx.changed.wait()
                rx.changed.clear()
    finally:
        await w.close()
        await poster.close()
    assert rx.ids == ["esc_ord_1_1", "esc_ord_1_2"]


async def test_two_senders_deliver_every_callback_once_and_in_order(sessions: Sessions, receiver) -> None:
    """Two processes send from one outbox: each callback is held by one sender, and an order's next callback
    waits until the one before it was delivered (before, both sent everything, late copies out of order)."""
    world = make_world(sessions, callbacks_enabled=True)
    for order_id in ("ord_a", "ord_b"):
        await world.order(order_id)
        await world.escrow.act(order_id, Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="P")
        await world.escrow.act(order_id, Action.DELIVER, actor_id=FREELANCER, actor_role=Role.FREELANCER)
    rx, url = await receiver(failures=0)
    posters = [AiohttpPoster(), AiohttpPoster()]
    senders = [worker(sessions, url, poster) for poster in posters]
    try:
        for _ in range(4):
            await asyncio.gather(*(sender.deliver_due() for sender in senders))
    finally:
        for poster in posters:
            await poster.close()
    assert sorted(rx.ids) == ["esc_ord_a_1", "esc_ord_a_2", "esc_ord_b_1", "esc_ord_b_2"]  # each once
    for order_id in ("ord_a", "ord_b"):
        sent = [i for i in rx.ids if i.startswith(f"esc_{order_id}_")]
        assert sent == [f"esc_{order_id}_1", f"esc_{order_id}_2"]  # in order


async def test_retry_times_come_from_the_database_clock(sessions: Sessions, receiver, monkeypatch) -> None:
    """A process whose clock jumped a day ahead while a callback failed must not delay it by a day."""
    from datetime import UTC, datetime

    from bot.db.types import utcnow
    from bot.services.escrow import callbacks as callbacks_module

    world = make_world(sessions, callbacks_enabled=True)
    await world.order("ord_a")
    await world.escrow.act("ord_a", Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="P")
    _rx, url = await receiver(failures=1)
    jumped = datetime.now(UTC) + timedelta(days=1)
    monkeypatch.setattr(callbacks_module, "utcnow", lambda: jumped)
    poster = AiohttpPoster()
    try:
        assert await worker(sessions, url, poster, retry=timedelta(seconds=30)).deliver_due() == 0
    finally:
        await poster.close()
    (row,) = await world.outbox()
    assert row.attempts == 1 and row.claimed_until is None
    assert row.next_attempt_at < utcnow() + timedelta(minutes=1)  # 30 s after now, not after the jumped clock


async def test_the_body_is_the_one_of_the_contract_and_names_the_server(sessions: Sessions) -> None:
    world = make_world(sessions, callbacks_enabled=True)
    await world.order("ord_a")
    async with sessions.begin() as session:
        await session.execute(update(Ticket).where(col(Ticket.order_id) == "ord_a").values(channel_id=4242))
    await world.escrow.act("ord_a", Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="PAY-9")
    (row,) = await world.outbox()
    (entry,) = await world.entries("ord_a")
    body = json.loads(row.body)
    assert set(body) == {"type", "timestamp", "data"} and body["type"] == "escrow.state_changed"
    assert body["data"] == {
        "order_id": "ord_a",
        "guild_id": str(GUILD),
        "channel_id": "4242",
        "action": "fund",
        "actor_role": "officer",
        "from": "awaiting_funding",
        "to": "funded",
        "note": "PAY-9",
        "escrow_version": 1,
        "audit": {"seq": entry.seq, "hash": entry.hash},
        "at": entry.created_at.isoformat(),
    }


async def test_a_change_before_any_ticket_names_no_server(sessions: Sessions) -> None:
    world = make_world(sessions, callbacks_enabled=True)
    await world.order("ord_a", ticket=False)
    await world.fact("order.cancelled", "ord_a")
    (row,) = await world.outbox()
    data = json.loads(row.body)["data"]
    assert (data["guild_id"], data["channel_id"], data["actor_role"], data["to"]) == (
        None, None, "marketplace", "cancelled",
    )  # fmt: skip
