"""400: not JSON, not UTF-8, or not the schema, with a JSON body naming the bad fields; nothing stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import TEST_SECRET
from tests.webhooks.conftest import PATH, count_events
from tests.webhooks.events import agreed, dumps, event, signed_headers, terms

Client = TestClient[Any, Any]


async def post(client: Client, document: Any) -> tuple[int, dict[str, Any]]:
    body = document if isinstance(document, str) else dumps(document)
    response = await client.post(PATH, data=body, headers=signed_headers(body))
    return response.status, await response.json()


async def assert_bad_fields(client: Client, engine: AsyncEngine, document: Any, *fields: str) -> None:
    status, answer = await post(client, document)
    assert status == 400, answer
    assert answer["error"] == "invalid_payload"
    named = {f["field"] for f in answer["fields"]}
    assert set(fields) <= named, answer
    assert all(f["message"] for f in answer["fields"])
    assert await count_events(engine) == 0


async def test_not_json(client: Client, engine: AsyncEngine) -> None:
    status, answer = await post(client, "this is {not json")
    assert status == 400
    assert answer["error"] == "invalid_json"
    assert await count_events(engine) == 0


async def test_not_utf8(client: Client, engine: AsyncEngine) -> None:
    raw = b'{"type":"order.agreed","x":"\xff\xfe"}'
    msg_id, ts = "msg_latin", str(int(time.time()))
    key = base64.b64decode(TEST_SECRET.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + raw, hashlib.sha256).digest()
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": ts,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
        "content-type": "application/json",
    }
    response = await client.post(PATH, data=raw, headers=headers)
    assert response.status == 400
    assert (await response.json())["error"] == "invalid_json"
    assert await count_events(engine) == 0


@pytest.mark.parametrize("document", [[], "just a string", 42, None])
async def test_json_that_is_not_an_object(client: Client, engine: AsyncEngine, document: Any) -> None:
    status, answer = await post(client, dumps(document))
    assert status == 400
    assert answer["error"] == "invalid_payload"


async def test_envelope_fields_are_named(client: Client, engine: AsyncEngine) -> None:
    await assert_bad_fields(client, engine, {"type": "order.agreed"}, "timestamp", "data")
    await assert_bad_fields(client, engine, event("order.agreed", terms(), timestamp="yesterday"), "timestamp")


async def test_several_bad_fields_are_all_listed(client: Client, engine: AsyncEngine) -> None:
    data = terms(amount="-5", currency="usd")
    del data["deliverables"]
    data["seller"] = {"name": "no email"}
    await assert_bad_fields(
        client, engine, event("order.agreed", data),
        "data.amount", "data.currency", "data.deliverables", "data.seller.email",
    )  # fmt: skip


# Decision: amounts are plain decimal strings of ASCII digits with at most two decimals.
# Exponents ('1e3'), signs, underscores, non-ASCII digits and JSON numbers are refused, so that
# what the marketplace meant can never be reinterpreted.
@pytest.mark.parametrize(
    "amount",
    ["0", "0.00", "-1", "1.234", 12.5, 12, "NaN", "Infinity", "1e3", "+5", "1_000", "١٢", "12.", ".5", "", " ",
     "10000000000000.00", "12,50"],
)  # fmt: skip
async def test_bad_amounts(client: Client, engine: AsyncEngine, amount: Any) -> None:
    await assert_bad_fields(client, engine, agreed(amount=amount), "data.amount")


@pytest.mark.parametrize("amount", ["0.01", "12.5", "120.50", "007", "9999999999999.99"])
async def test_good_amounts(client: Client, amount: str) -> None:
    status, answer = await post(client, agreed(amount=amount))
    assert status == 202, answer


@pytest.mark.parametrize("order_id", ["x" * 65, "", "has space", "slash/es", "dot.ted", "ünï"])
async def test_bad_order_ids(client: Client, engine: AsyncEngine, order_id: str) -> None:
    await assert_bad_fields(client, engine, agreed(order_id=order_id), "data.order_id")


@pytest.mark.parametrize("order_id", ["x" * 64, "A", "abc_DEF-123"])
async def test_good_order_ids(client: Client, order_id: str) -> None:
    status, answer = await post(client, agreed(order_id=order_id))
    assert status == 202, answer


@pytest.mark.parametrize("length, status", [(0, 400), (1, 202), (4000, 202), (4001, 400)])
async def test_deliverables_length(client: Client, length: int, status: int) -> None:
    got, answer = await post(client, agreed(deliverables="d" * length))
    assert got == status, answer
    if status == 400:
        assert {f["field"] for f in answer["fields"]} == {"data.deliverables"}


@pytest.mark.parametrize("currency", ["usd", "US", "USDD", "U5D", ""])
async def test_bad_currency(client: Client, engine: AsyncEngine, currency: str) -> None:
    await assert_bad_fields(client, engine, agreed(currency=currency), "data.currency")


@pytest.mark.parametrize(
    "due", ["2026-12-01T17:00:00", "2026-12-01", 1764608400, "1764608400", "next week", None]
)  # fmt: skip
async def test_delivery_due_needs_an_iso_datetime_with_offset(client: Client, engine: AsyncEngine, due: Any) -> None:
    await assert_bad_fields(client, engine, agreed(delivery_due=due), "data.delivery_due")


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"gig_url": "not a link"}, "data.gig_url"),
        ({"gig_url": "ftp://opentaskai.com/gigs/1"}, "data.gig_url"),
        ({"buyer": {"email": "not-an-email"}}, "data.buyer.email"),
        ({"agreed_at": "2026-11-25T09:00:00"}, "data.agreed_at"),
    ],
)
async def test_other_terms_fields(client: Client, engine: AsyncEngine, changes: dict[str, Any], field: str) -> None:
    await assert_bad_fields(client, engine, agreed(**changes), field)


@pytest.mark.parametrize(
    "type_, data, field",
    [
        ("order.delivered", {"order_id": "o1"}, "data.delivered_at"),
        ("order.delivered", {"order_id": "o1", "delivered_at": "2026-11-25T10:00:00"}, "data.delivered_at"),
        ("order.completed", {"order_id": "o1"}, "data.completed_at"),
        ("order.cancelled", {"reason": "changed mind"}, "data.order_id"),
        ("order.cancelled", {"order_id": "o1", "reason": "r" * 4001}, "data.reason"),
    ],
)
async def test_fact_events(client: Client, engine: AsyncEngine, type_: str, data: dict[str, Any], field: str) -> None:
    await assert_bad_fields(client, engine, event(type_, data), field)


async def test_unknown_type_still_needs_the_envelope(client: Client, engine: AsyncEngine) -> None:
    await assert_bad_fields(client, engine, {"type": "something.new", "data": {}}, "timestamp")
    await assert_bad_fields(client, engine, event("something.new", []), "data")  # type: ignore[arg-type]


async def test_deeply_nested_json_is_400_not_500(client: Client, engine: AsyncEngine) -> None:
    status, answer = await post(client, "[" * 30_000 + "]" * 30_000)
    assert status == 400, answer
    assert await count_events(engine) == 0


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"deliverables": "logo\u0000"}, "data.deliverables"),
        ({"seller": {"email": "a\u0000b@example.com"}}, "data.seller.email"),
        ({"buyer": {"email": "b@example.com", "name": "Bo\u0007"}}, "data.buyer.name"),
    ],
)
async def test_control_characters_are_refused(
    client: Client, engine: AsyncEngine, changes: dict[str, Any], field: str
) -> None:
    # PostgreSQL cannot store NUL in text: accepting it would acknowledge an event that can never be applied.
    await assert_bad_fields(client, engine, agreed(**changes), field)


async def test_newlines_and_tabs_in_deliverables_are_fine(client: Client) -> None:
    status, answer = await post(client, agreed(deliverables="1. logo\n2. icons\tx3\r\n"))
    assert status == 202, answer


async def test_unknown_type_with_control_characters(client: Client, engine: AsyncEngine) -> None:
    await assert_bad_fields(client, engine, event("odd\u0000type", {}), "type")


async def test_unknown_type_keeps_only_a_well_formed_order_id(client: Client, engine: AsyncEngine) -> None:
    from tests.webhooks.conftest import stored

    for msg_id, order_id in [("u1", "a\u0000b"), ("u2", "x" * 80), ("u3", 42), ("u4", "good_id")]:
        body = dumps(event("future.thing", {"order_id": order_id}))
        response = await client.post(PATH, data=body, headers=signed_headers(body, msg_id=msg_id))
        assert response.status == 202
    assert [(r.webhook_id, r.order_id) for r in await stored(engine)] == [
        ("u1", None), ("u2", None), ("u3", None), ("u4", "good_id"),
    ]  # fmt: skip


@pytest.mark.parametrize("length, status", [(255, 202), (256, 400)])
async def test_webhook_id_length(client: Client, engine: AsyncEngine, length: int, status: int) -> None:
    body = dumps(agreed())
    response = await client.post(PATH, data=body, headers=signed_headers(body, msg_id="m" * length))
    assert response.status == status
    assert await count_events(engine) == (1 if status == 202 else 0)
