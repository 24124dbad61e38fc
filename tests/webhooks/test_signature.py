"""401 for every missing, malformed, wrong or stale signature; never a 500, nothing stored."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook

from tests.webhooks.conftest import PATH, ROTATED_SECRET, count_events
from tests.webhooks.events import agreed, dumps, minutes, signed_headers

Client = TestClient[Any, Any]
WRONG_SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"  # "ABCDEFGHIJKLMNOPQRSTUVWX"
BODY = dumps(agreed("ord_sig"))


async def assert_401(client: Client, engine: AsyncEngine, headers: dict[str, str], body: str = BODY) -> None:
    response = await client.post(PATH, data=body, headers=headers)
    assert response.status == 401, await response.text()
    assert (await response.json())["error"] == "invalid_signature"
    assert await count_events(engine) == 0


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp", "webhook-signature"])
async def test_missing_header(client: Client, engine: AsyncEngine, header: str) -> None:
    headers = signed_headers(BODY)
    del headers[header]
    await assert_401(client, engine, headers)


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp", "webhook-signature"])
async def test_empty_header(client: Client, engine: AsyncEngine, header: str) -> None:
    await assert_401(client, engine, {**signed_headers(BODY), header: ""})


@pytest.mark.parametrize(
    "signature",
    ["v1", "garbage", "v1,", "v1,!!!not*base64!!!", "v1,YWJj=", "v1,a,b", ",", "v1, ", "  ", "v2,abc"],
)
async def test_malformed_signature_header(client: Client, engine: AsyncEngine, signature: str) -> None:
    await assert_401(client, engine, {**signed_headers(BODY), "webhook-signature": signature})


@pytest.mark.parametrize("timestamp", ["garbage", "nan", "inf", "-inf", "1e400", "9" * 40, "-1", "", "0x10"])
async def test_malformed_timestamp(client: Client, engine: AsyncEngine, timestamp: str) -> None:
    await assert_401(client, engine, {**signed_headers(BODY), "webhook-timestamp": timestamp})


async def test_wrong_secret(client: Client, engine: AsyncEngine) -> None:
    await assert_401(client, engine, signed_headers(BODY, secret=WRONG_SECRET))


async def test_tampered_body(client: Client, engine: AsyncEngine) -> None:
    headers = signed_headers(BODY)
    await assert_401(client, engine, headers, body=BODY.replace("120.50", "12.50"))


async def test_signature_bound_to_id(client: Client, engine: AsyncEngine) -> None:
    headers = signed_headers(BODY, msg_id="msg_a")
    await assert_401(client, engine, {**headers, "webhook-id": "msg_b"})


@pytest.mark.parametrize("offset", [-6, 6, -60, 60 * 24])
async def test_stale_or_future_timestamp(client: Client, engine: AsyncEngine, offset: int) -> None:
    when = datetime.now(UTC) + minutes(offset)
    await assert_401(client, engine, signed_headers(BODY, when=when))


@pytest.mark.parametrize("offset", [-4, 4])
async def test_within_tolerance(client: Client, offset: int) -> None:
    response = await client.post(
        PATH, data=BODY, headers=signed_headers(BODY, when=datetime.now(UTC) + minutes(offset))
    )
    assert response.status == 202


async def test_one_good_signature_among_several(client: Client) -> None:
    headers = signed_headers(BODY, msg_id="msg_multi")
    wrong = Webhook(WRONG_SECRET).sign(
        "msg_multi", datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC), BODY
    )
    headers["webhook-signature"] = f"{wrong} v1,AAAA {headers['webhook-signature']}"
    response = await client.post(PATH, data=BODY, headers=headers)
    assert response.status == 202


async def test_rotated_second_secret(client: Client) -> None:
    response = await client.post(PATH, data=BODY, headers=signed_headers(BODY, secret=ROTATED_SECRET))
    assert response.status == 202


async def test_bad_signature_is_checked_before_the_schema(client: Client, engine: AsyncEngine) -> None:
    # An unsigned sender learns nothing about the schema.
    body = dumps({"type": "order.agreed", "data": {}})
    await assert_401(client, engine, {**signed_headers(body), "webhook-signature": "v1,AAAA"}, body=body)
