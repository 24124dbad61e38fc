"""The event schema on its own: parsed values, field names in errors, amounts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bot.services.marketplace import (
    MAX_AMOUNT,
    CancelledData,
    DeliveredData,
    PayloadError,
    TermsData,
    parse_amount,
    parse_event,
)
from tests.webhooks.events import agreed, event, terms


def test_agreed_is_typed() -> None:
    parsed = parse_event(agreed("o1", amount="120.5"))
    assert isinstance(parsed.data, TermsData)
    assert parsed.order_id == "o1"
    assert parsed.data.amount_decimal == Decimal("120.5")
    assert parsed.data.delivery_due == datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    assert parsed.timestamp == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert parsed.data.seller.email == "seller@example.com"


def test_optional_fields() -> None:
    data = terms("o1")
    del data["conversation_url"]
    data["buyer"] = {"email": "b@example.com"}
    parsed = parse_event(event("order.updated", data))
    assert isinstance(parsed.data, TermsData)
    assert parsed.data.conversation_url is None and parsed.data.buyer.name is None
    delivered = parse_event(event("order.delivered", {"order_id": "o1", "delivered_at": "2026-11-26T10:00:00+01:00"}))
    assert isinstance(delivered.data, DeliveredData) and delivered.data.note is None
    cancelled = parse_event(event("order.cancelled", {"order_id": "o1"}))
    assert isinstance(cancelled.data, CancelledData) and cancelled.data.reason is None


def test_unknown_type_has_no_data_but_keeps_order_id() -> None:
    parsed = parse_event(event("order.renamed", {"order_id": "o9", "x": 1}))
    assert (parsed.data, parsed.order_id, parsed.type) == (None, "o9", "order.renamed")


def test_errors_name_nested_fields() -> None:
    data = terms("o1", seller={"email": "nope"}, amount="1.001")
    with pytest.raises(PayloadError) as caught:
        parse_event(event("order.agreed", data))
    fields = {f["field"]: f["message"] for f in caught.value.fields}
    assert set(fields) == {"data.seller.email", "data.amount"}
    assert "2 decimals" in fields["data.amount"]
    assert "data.amount" in str(caught.value)


def test_extra_fields_are_ignored() -> None:
    parsed = parse_event({**agreed("o1"), "version": 2, "data": {**terms("o1"), "new_field": True}})
    assert parsed.order_id == "o1"


@pytest.mark.parametrize(
    "text, value",
    [("0.01", Decimal("0.01")), ("1", Decimal("1")), ("12.5", Decimal("12.5")), ("9999999999999.99", MAX_AMOUNT)],
)
def test_parse_amount(text: str, value: Decimal) -> None:
    assert parse_amount(text) == value


@pytest.mark.parametrize("text", ["0", "-1", "1.234", "NaN", "1e3", "+1", "1_0", "10000000000000", "\u0661"])
def test_parse_amount_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_amount(text)
