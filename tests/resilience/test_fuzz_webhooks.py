"""Thousands of malformed, odd and mis-signed requests: never a 5xx, and the database holds
exactly the events answered 202.

Hypothesis runs in a worker thread and hands each request to the test's event loop, where
the app (real intake, verifier and database) serves it. `HYPOTHESIS_PROFILE=ci-long` raises
the number of examples.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from aiohttp.test_utils import TestClient
from hypothesis import given
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.resilience.fuzzing import Request, examples, requests
from tests.webhooks.conftest import PATH, stored

Client = TestClient[Any, Any]
T = TypeVar("T")
ALLOWED = {200, 202, 400, 401, 413, 415}


class Ledger:
    """What the server answered, per webhook id."""

    def __init__(self) -> None:
        self.accepted: set[str] = set()
        self.statuses: dict[int, int] = {}

    def check(self, request: Request, status: int, body: Any) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        assert status in ALLOWED, f"{status} {body!r} for {request.body[:200]!r} {request.headers}"
        if status in (200, 202):
            assert request.signed, f"{status} for a request without a valid signature: {request.headers}"
            assert body["webhook_id"] == request.webhook_id
        if status == 202:
            assert request.webhook_id not in self.accepted, "a re-delivery was accepted twice"
            self.accepted.add(request.webhook_id)  # type: ignore[arg-type]
        if status == 200:
            assert request.webhook_id in self.accepted, "a duplicate of an id never accepted"
        if status == 400:
            assert body["error"] in ("invalid_json", "invalid_payload"), body
            if body["error"] == "invalid_payload" and "webhook-id" not in body["message"]:
                assert body["fields"], body
                # Each names its field; "" is the document itself (not a JSON object).
                assert all(isinstance(f["field"], str) and f["message"] for f in body["fields"]), body
                assert all(f["field"] or len(body["fields"]) == 1 for f in body["fields"]), body


async def _send(client: Client, request: Request) -> tuple[int, Any]:
    response = await client.post(PATH, data=request.body, headers=request.headers)
    if response.content_type == "application/json":
        return response.status, await response.json()
    return response.status, await response.text()


async def test_fuzzed_requests_never_5xx_and_store_exactly_the_202s(client: Client, engine: AsyncEngine) -> None:
    loop = asyncio.get_running_loop()
    ledger = Ledger()

    def on_loop(coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=30)

    @examples()
    @given(request=requests())
    def one(request: Request) -> None:
        status, body = on_loop(_send(client, request))
        ledger.check(request, status, body)

    await asyncio.to_thread(one)

    assert {row.webhook_id for row in await stored(engine)} == ledger.accepted
    assert {202, 400, 401} <= set(ledger.statuses), f"the run missed whole paths: {ledger.statuses}"
