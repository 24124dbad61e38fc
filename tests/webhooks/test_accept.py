"""202 for a new event (stored before the answer), 200 for a duplicate, unknown types kept."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.models import EventStatus
from bot.services.events.intake import EventIntake, IncomingEvent
from tests.webhooks.conftest import PATH, count_events, stored
from tests.webhooks.events import agreed, dumps, event, signed_headers

Client = TestClient[Any, Any]


async def test_new_event_is_stored_before_202(client: Client, engine: AsyncEngine) -> None:
    body = dumps(agreed("ord_new"))
    response = await client.post(PATH, data=body, headers=signed_headers(body, msg_id="msg_new"))

    assert response.status == 202
    assert (await response.json())["webhook_id"] == "msg_new"
    rows = await stored(engine)  # read straight after the answer: it must already be committed
    assert [(r.webhook_id, r.type, r.order_id, r.status) for r in rows] == [
        ("msg_new", "order.agreed", "ord_new", EventStatus.PENDING)
    ]
    assert rows[0].body == body  # the raw body, verbatim
    assert rows[0].received_at.tzinfo is not None


async def test_duplicate_webhook_id_is_200_and_stores_nothing_more(client: Client, engine: AsyncEngine) -> None:
    body = dumps(agreed("ord_dup"))
    first = await client.post(PATH, data=body, headers=signed_headers(body, msg_id="msg_dup"))
    # A re-delivery with a fresh signature, and even a different body, is still the same message.
    other = dumps(agreed("ord_dup", amount="999.00"))
    second = await client.post(PATH, data=body, headers=signed_headers(body, msg_id="msg_dup"))
    third = await client.post(PATH, data=other, headers=signed_headers(other, msg_id="msg_dup"))

    assert (first.status, second.status, third.status) == (202, 200, 200)
    assert (await second.json())["status"] == "duplicate"
    rows = await stored(engine)
    assert len(rows) == 1
    assert rows[0].body == body


async def test_concurrent_deliveries_of_one_id_give_exactly_one_202(client: Client, engine: AsyncEngine) -> None:
    body = dumps(agreed("ord_race"))
    headers = signed_headers(body, msg_id="msg_race")

    responses = await asyncio.gather(*(client.post(PATH, data=body, headers=headers) for _ in range(25)))

    statuses = sorted(r.status for r in responses)
    assert statuses == [200] * 24 + [202]
    assert await count_events(engine) == 1


async def test_burst_of_distinct_events_all_stored(client: Client, engine: AsyncEngine) -> None:
    bodies = [dumps(agreed(f"ord_{i}")) for i in range(40)]
    responses = await asyncio.gather(
        *(client.post(PATH, data=b, headers=signed_headers(b, msg_id=f"m{i}")) for i, b in enumerate(bodies))
    )
    assert {r.status for r in responses} == {202}
    assert sorted(r.webhook_id for r in await stored(engine)) == sorted(f"m{i}" for i in range(40))


async def test_duplicates_within_one_batch(intake: EventIntake, engine: AsyncEngine) -> None:
    def incoming(msg_id: str, order_id: str) -> IncomingEvent:
        return IncomingEvent(webhook_id=msg_id, type="order.agreed", order_id=order_id, body=dumps(agreed(order_id)))

    # Handed over in the same loop iteration, these reach the writer as one batch.
    results = await asyncio.gather(
        intake.store(incoming("a", "o1")),
        intake.store(incoming("b", "o2")),
        intake.store(incoming("a", "o3")),
        intake.store(incoming("b", "o4")),
    )

    assert results == [True, True, False, False]
    rows = await stored(engine)
    assert [(r.webhook_id, r.order_id) for r in rows] == [("a", "o1"), ("b", "o2")]


async def test_unknown_type_is_stored_and_accepted(client: Client, engine: AsyncEngine) -> None:
    body = dumps(event("order.disputed_v2", {"order_id": "ord_x", "whatever": [1, 2]}))
    response = await client.post(PATH, data=body, headers=signed_headers(body, msg_id="msg_unknown"))

    assert response.status == 202
    rows = await stored(engine)
    assert [(r.webhook_id, r.type, r.order_id) for r in rows] == [("msg_unknown", "order.disputed_v2", "ord_x")]


async def test_charset_parameter_is_still_json(client: Client, engine: AsyncEngine) -> None:
    body = dumps(agreed("ord_cs"))
    headers = signed_headers(body, content_type="application/json; charset=utf-8")
    response = await client.post(PATH, data=body, headers=headers)
    assert response.status == 202
    assert await count_events(engine) == 1


async def test_non_ascii_body_is_verified_over_raw_bytes(client: Client, engine: AsyncEngine) -> None:
    body = json.dumps(agreed("ord_utf8", deliverables="Logo für Zoë — 日本語"), ensure_ascii=False)
    response = await client.post(PATH, data=body.encode(), headers=signed_headers(body))
    assert response.status == 202
    assert (await stored(engine))[0].body == body


async def test_media_type_is_case_insensitive(client: Client) -> None:
    body = dumps(agreed("ord_case"))
    response = await client.post(PATH, data=body, headers=signed_headers(body, content_type="Application/JSON"))
    assert response.status == 202


async def test_lookalike_media_types_are_415(client: Client) -> None:
    body = dumps(agreed("ord_like"))
    for content_type in ("application/jsonx", "application/json-patch+json", "text/json"):
        response = await client.post(PATH, data=body, headers=signed_headers(body, content_type=content_type))
        assert response.status == 415, content_type


async def test_unknown_signature_versions_are_skipped(client: Client) -> None:
    # Standard Webhooks reserves other versions (e.g. v1a, asymmetric); a receiver skips what it does not know.
    body = dumps(agreed("ord_v1a"))
    headers = signed_headers(body)
    headers["webhook-signature"] = f"v1a,c29tZXRoaW5nIGVsc2U= {headers['webhook-signature']}"
    response = await client.post(PATH, data=body, headers=headers)
    assert response.status == 202
