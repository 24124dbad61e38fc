"""`guarantor trigger EVENT_TYPE`: a realistic sample marketplace event, signed with the first configured
secret and posted to a running server, as `stripe trigger` does for Stripe. The quick start's first step
and an operator's end-to-end check of a deployment."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from bot.services.signing import sign

EVENT_TYPES = ("order.agreed", "order.updated", "order.delivered", "order.completed", "order.cancelled")
TIMEOUT_SECONDS = 10.0


def sample(event_type: str, order_id: str, now: datetime) -> dict[str, Any]:
    """A realistic event of `event_type` for `order_id` (terms agreed a minute ago, due in a week)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}; use one of: {', '.join(EVENT_TYPES)}")
    at = now.astimezone(UTC).isoformat(timespec="seconds")
    if event_type in ("order.agreed", "order.updated"):
        data: dict[str, Any] = {
            "order_id": order_id,
            "gig_url": f"https://opentaskai.com/gigs/{order_id}-logo",
            "conversation_url": f"https://opentaskai.com/chat/{order_id}",
            "seller": {"email": "seller@example.com", "name": "Sam Seller"},
            "buyer": {"email": "buyer@example.com", "name": "Bea Buyer"},
            "amount": "150.00" if event_type == "order.updated" else "120.50",
            "currency": "USD",
            "delivery_due": (now + timedelta(days=7)).astimezone(UTC).isoformat(timespec="seconds"),
            "deliverables": "A vector logo in three colours, with the source files.",
            # newer terms must be agreed later than the first ones to apply
            "agreed_at": (now if event_type == "order.updated" else now - timedelta(minutes=1))
            .astimezone(UTC)
            .isoformat(timespec="seconds"),
        }
    elif event_type == "order.delivered":
        data = {"order_id": order_id, "delivered_at": at, "note": "Files uploaded on the marketplace."}
    elif event_type == "order.completed":
        data = {"order_id": order_id, "completed_at": at}
    else:
        data = {"order_id": order_id, "reason": "The buyer and the freelancer called it off."}
    return {"type": event_type, "timestamp": at, "data": data}


@dataclass(frozen=True, slots=True)
class Answer:
    webhook_id: str
    status: int
    body: str


async def post(url: str, secret: str, document: dict[str, Any], *, now: datetime | None = None) -> Answer:
    """Sign `document` as the marketplace does (Standard Webhooks) and POST it; the server's answer."""
    now = now or datetime.now(UTC)
    body = json.dumps(document, separators=(",", ":"))
    webhook_id = f"msg_trigger_{uuid.uuid4().hex}"
    headers = {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": sign(secret, webhook_id, now, body),
    }
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.post(url, data=body, headers=headers) as r:
        return Answer(webhook_id, r.status, await r.text())
