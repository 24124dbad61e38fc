"""Callbacks never follow redirects (PRODUCT.md §4): a 3xx from the marketplace's endpoint is a failed delivery,
retried like any other, and the signed body goes nowhere else, not even on a 307 or 308 that asks for it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from aiohttp import web

from bot.services.escrow.callbacks import CallbackWorker
from bot.services.escrow.rules import Action, Role
from tests.services.escrow.escrow_support import OFFICER, Sessions, make_world
from tests.services.escrow.test_callbacks import CALLBACK_SECRET
from webhooks.callbacks import AiohttpPoster


class Redirecting:
    """The endpoint answers `status` with a Location (on this server, so a follower would land there) until told
    to accept; every request anywhere is recorded."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.requests: list[tuple[str, str, str]] = []  # (method, path, body)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        self.requests.append((request.method, request.path, body))
        if request.path == "/callbacks" and self.status >= 300:
            return web.Response(status=self.status, headers={"Location": "/elsewhere"})
        return web.Response(status=204)


@pytest.fixture
async def endpoint(aiohttp_server):
    async def make(status: int) -> tuple[Redirecting, str]:
        redirecting = Redirecting(status)
        app = web.Application()
        app.router.add_route("*", "/callbacks", redirecting.handle)
        app.router.add_route("*", "/elsewhere", redirecting.handle)
        server = await aiohttp_server(app)
        return redirecting, str(server.make_url("/callbacks"))

    return make


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_is_a_failed_delivery_retried_and_never_followed(
    sessions: Sessions, endpoint, status: int
) -> None:
    redirecting, url = await endpoint(status)
    world = make_world(sessions, callbacks_enabled=True)
    await world.order("ord_r")
    await world.escrow.act("ord_r", Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="PAY-R")
    poster = AiohttpPoster()
    worker = CallbackWorker(sessions, poster, url=url, secret=CALLBACK_SECRET, retry_after=lambda _n: timedelta(0))
    try:
        assert await worker.deliver_due() == 0
        (row,) = await world.outbox()
        assert (row.status, row.attempts, row.last_status, row.last_error) == ("pending", 1, status, f"HTTP {status}")
        assert [(method, path) for method, path, _body in redirecting.requests] == [("POST", "/callbacks")]

        redirecting.status = 204  # the endpoint is fixed: the retry delivers, to the configured URL only
        assert await worker.deliver_due() == 1
        (row,) = await world.outbox()
        assert (row.status, row.attempts, row.last_status) == ("delivered", 2, 204)
        assert [path for _method, path, _body in redirecting.requests] == ["/callbacks", "/callbacks"]
        assert json.loads(redirecting.requests[-1][2])["data"]["order_id"] == "ord_r"
    finally:
        await worker.close()
        await poster.close()
