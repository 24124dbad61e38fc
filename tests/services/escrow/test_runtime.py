"""The runtime wires the escrow: marketplace events open and move it, terms freeze once funded,
and with a callback URL the worker reports every change to the marketplace."""

from __future__ import annotations

import asyncio

from aiohttp import web
from standardwebhooks import Webhook

from bot.db.models import Ticket
from bot.db.repos import escrow as escrow_repo
from bot.runtime import Runtime
from bot.services.escrow.rules import Action, Role
from bot.settings import Settings
from tests.services.escrow.test_callbacks import CALLBACK_SECRET
from tests.services.helpers import event_row, store
from tests.webhooks.events import agreed, event, terms


async def processed(runtime: Runtime, sessions, *msg_ids: str) -> None:
    """Wait until the events are processed: by this pass, or by the runtime's own worker,
    which may have claimed them first (then this pass skips them)."""
    async with asyncio.timeout(10):
        while True:
            await runtime.processor.process_due()
            rows = [await event_row(sessions, msg_id) for msg_id in msg_ids]
            if all(row.status == "processed" for row in rows):
                return
            await asyncio.sleep(0.02)


async def test_events_and_people_drive_the_escrow_and_callbacks_reach_the_marketplace(
    settings: Settings, sessions, aiohttp_server
) -> None:
    received: list[str] = []
    arrived = asyncio.Event()

    async def handle(request: web.Request) -> web.Response:
        body = await request.text()
        Webhook(CALLBACK_SECRET).verify(body, dict(request.headers))
        received.append(request.headers["webhook-id"])
        arrived.set()
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/cb", handle)
    server = await aiohttp_server(app)
    configured = settings.model_copy(
        update={
            "marketplace_callback_url": str(server.make_url("/cb")),
            "marketplace_callback_secret": Settings(
                _env_file=None,  # type: ignore[call-arg]
                marketplace_webhook_secrets=CALLBACK_SECRET,
                marketplace_callback_secret=CALLBACK_SECRET,
            ).marketplace_callback_secret,
        }
    )
    runtime = Runtime(configured)
    await runtime.start(serve_webhooks=False)
    try:
        await store(sessions, "m1", agreed("ord_9"))
        await processed(runtime, sessions, "m1")
        async with sessions.begin() as session:  # funding needs the buyer in the ticket
            session.add(Ticket(order_id="ord_9", guild_id=9, freelancer_id=11, buyer_id=12))
        await runtime.escrow.act("ord_9", Action.FUND, actor_id=1, actor_role=Role.OFFICER, note="REF")
        later = event("order.updated", terms("ord_9", amount="1.00", agreed_at="2026-11-25T11:00:00+00:00"))
        await store(sessions, "m2", later)
        await store(
            sessions, "m3", event("order.delivered", {"order_id": "ord_9", "delivered_at": "2026-11-26T10:00:00Z"})
        )
        await processed(runtime, sessions, "m2", "m3")
        async with sessions() as session:
            escrow = await escrow_repo.get(session=session, order_id="ord_9")
        assert escrow is not None and escrow.state == "delivered"
        assert "New terms arrived after the payment was put in escrow" in (escrow.flag or "")
        async with asyncio.timeout(10):
            while len(received) < 2:
                await arrived.wait()
                arrived.clear()
    finally:
        await runtime.close()
    assert received == ["esc_ord_9_1", "esc_ord_9_2"]
