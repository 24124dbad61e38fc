"""Marketplace events and Standard Webhooks signing, as an independent client builds them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from standardwebhooks import Webhook

from tests.conftest import TEST_SECRET

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def terms(order_id: str = "ord_1", **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "order_id": order_id,
        "gig_url": f"https://opentaskai.com/gigs/{order_id}-logo",
        "conversation_url": "https://opentaskai.com/chat/42",
        "seller": {"email": "seller@example.com", "name": "Sam Seller", "user_id": "u-1"},
        "buyer": {"email": "buyer@example.com", "name": "Bo Buyer"},
        "amount": "120.50",
        "currency": "USD",
        "delivery_due": "2026-12-01T17:00:00+02:00",
        "deliverables": "A vector logo in three colours",
        "agreed_at": "2026-11-25T09:00:00+00:00",
    }
    data.update(changes)
    return data


def event(type_: str, data: dict[str, Any], timestamp: str = "2026-11-25T10:00:00Z") -> dict[str, Any]:
    return {"type": type_, "timestamp": timestamp, "data": data}


def agreed(order_id: str = "ord_1", **changes: Any) -> dict[str, Any]:
    return event("order.agreed", terms(order_id, **changes))


def dumps(document: Any) -> str:
    return json.dumps(document, separators=(",", ":"))


def signed_headers(
    body: str | bytes,
    *,
    msg_id: str | None = None,
    secret: str = TEST_SECRET,
    when: datetime | None = None,
    content_type: str = "application/json",
) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    when = when or datetime.now(UTC)
    text = body.decode("utf-8", "surrogateescape") if isinstance(body, bytes) else body
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, when, text),
        "content-type": content_type,
    }


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
