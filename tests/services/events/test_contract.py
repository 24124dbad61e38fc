"""The event schema on its own: parsed values, field names in errors, amounts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.services.events.contract import (
    _PLAIN_LINK,
    MAX_AMOUNT,
    CancelledData,
    DeliveredData,
    NotJsonError,
    PayloadError,
    TermsData,
    parse_amount,
    parse_event,
    parse_event_json,
    parse_gig_link,
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


link_text = st.text(st.sampled_from("abcXYZ09-._~:/?#[]@!$&'()*+,;=% \\\t\u00e9\u0661"), max_size=40)


@given(scheme=st.sampled_from(["http://", "https://", "HTTPS://", "ftp://", ""]), rest=link_text)
def test_the_plain_link_shortcut_only_takes_links_the_full_parse_accepts(scheme: str, rest: str) -> None:
    value = scheme + rest
    if _PLAIN_LINK.fullmatch(value):
        assert parse_gig_link(value).host
        assert value.lower().startswith(("http://", "https://"))


@pytest.mark.parametrize(
    "link, accepted",
    [
        ("https://opentaskai.com/gigs/1", True),
        ("http://opentaskai.com:8080/gigs/1?x=1#y", True),  # a port takes the full parse, and passes
        ("https://user@opentaskai.com/gigs/1", True),
        ("https://opentaskai.com:99999/gigs/1", False),  # so does a bad port, and fails
        ("https:///gigs/1", False),
        ("ftp://opentaskai.com/gigs/1", False),
        ("opentaskai.com/gigs/1", False),
        ("https://opentaskai.com/gigs 1", False),
    ],
)
def test_gig_links(link: str, accepted: bool) -> None:
    if accepted:
        assert parse_event(agreed("o1", gig_url=link)).data is not None
    else:
        with pytest.raises(PayloadError) as caught:
            parse_event(agreed("o1", gig_url=link))
        assert [f["field"] for f in caught.value.fields] == ["data.gig_url"]


def test_control_characters_are_named_as_such() -> None:
    with pytest.raises(PayloadError) as caught:
        parse_event(agreed("o1", deliverables="logo\u0007"))
    assert caught.value.fields == [{"field": "data.deliverables", "message": "must not contain control characters"}]


@pytest.mark.parametrize(
    "document",
    [
        agreed("o1"),
        event("order.updated", terms("o1")),
        event("order.delivered", {"order_id": "o1", "delivered_at": "2026-11-26T10:00:00Z", "note": " done "}),
        event("order.completed", {"order_id": "o1", "completed_at": "2026-11-27T10:00:00+02:00"}),
        event("order.cancelled", {"order_id": "o1"}),
        event(" order.agreed ", terms("o1")),  # padded type: not the one-pass shape, same answer
        event("order.renamed", {"order_id": "o9"}),
    ],
)
def test_json_and_decoded_parses_agree(document: dict[str, Any]) -> None:
    assert parse_event_json(json.dumps(document)) == parse_event(document)
    assert parse_event_json(json.dumps(document).encode()) == parse_event(document)


@given(
    kind=st.sampled_from(["order.agreed", "order.delivered", "order.cancelled", "order.other"]),
    field=st.sampled_from(["order_id", "amount", "delivered_at", "reason", "seller", "gig_url"]),
    value=st.one_of(st.none(), st.integers(), st.text(max_size=12), st.just("2026-11-26T10:00:00Z")),
)
def test_json_and_decoded_parses_agree_on_bad_events_too(kind: str, field: str, value: Any) -> None:
    base = terms("o1") if kind == "order.agreed" else {"order_id": "o1", "delivered_at": "2026-11-26T10:00:00Z"}
    document = event(kind, {**base, field: value})

    def outcome(parse: Any, argument: Any) -> Any:
        try:
            return parse(argument)
        except PayloadError as exc:
            return exc.fields

    assert outcome(parse_event_json, json.dumps(document)) == outcome(parse_event, document)


@pytest.mark.parametrize("body", ["", "{", "[" * 5000, '{"type": "order.agreed",}', "\ud800", '"\\ud800"'])
def test_not_json(body: str) -> None:
    with pytest.raises(NotJsonError):
        parse_event_json(body)


def test_json_that_breaks_the_schema_names_the_fields() -> None:
    with pytest.raises(PayloadError) as caught:
        parse_event_json(json.dumps({"type": "order.agreed", "timestamp": 1700000000, "data": {}}))
    assert "timestamp" in {f["field"] for f in caught.value.fields}
