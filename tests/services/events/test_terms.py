"""The canonical terms digest: one fingerprint per deal, blind to spelling, sensitive to every term."""

from __future__ import annotations

import hashlib
from typing import Any

from bot.db.models import OrderTerms
from bot.services.events.contract import parse_event
from bot.services.events.order_book import _terms_values
from bot.services.events.terms import canonical_text, compare, terms_digest
from tests.webhooks.events import event, terms


def version(**changes: Any) -> OrderTerms:
    data = parse_event(event("order.updated", terms("ord_1", **changes))).data
    return OrderTerms(order_id="ord_1", event_id="e", event_type="order.updated", **_terms_values(data))  # type: ignore[arg-type]


def test_the_digest_is_the_sha256_of_the_documented_canonical_text() -> None:
    text = canonical_text(version())
    assert text == (
        '{"amount":"120.50","buyer_email":"buyer@example.com","currency":"USD","deliverables":"A vector logo in '
        'three colours","delivery_due":"2026-12-01T15:00:00+00:00","gig":"opentaskai.com/gigs/ord_1-logo",'
        '"seller_email":"seller@example.com","v":1}'
    )
    assert terms_digest(version()) == hashlib.sha256(text.encode()).hexdigest()


def test_spelling_names_and_agreement_time_are_not_terms() -> None:
    base = terms_digest(version())
    assert terms_digest(version(seller={"email": " Seller@Example.com ", "name": "Other"})) == base
    assert terms_digest(version(delivery_due="2026-12-01T15:00:00+00:00")) == base  # the same moment
    assert terms_digest(version(gig_url="https://www.opentaskai.com/gigs/ord_1-logo/?ref=x")) == base
    assert terms_digest(version(amount="120.5", agreed_at="2026-11-26T09:00:00+00:00")) == base
    assert compare(version(), version(conversation_url=None, buyer={"email": "buyer@example.com"})) is None


def test_every_term_changes_the_digest_and_is_named() -> None:
    base = version()
    cases = {
        "amount": {"amount": "120.51"},
        "delivery_due": {"delivery_due": "2026-12-02T17:00:00+02:00"},
        "deliverables": {"deliverables": "A vector logo in four colours"},
        "gig": {"gig_url": "https://opentaskai.com/gigs/ord_1-icon"},
        "seller_email": {"seller": {"email": "agency@example.com"}},
        "buyer_email": {"buyer": {"email": "b2@example.com"}},
    }
    for name, change in cases.items():
        other = version(**change)
        found = compare(base, other)
        assert found is not None and found.fields == (name,), name
        assert (found.old_digest, found.new_digest) == (terms_digest(base), terms_digest(other))
    currency = compare(base, version(currency="EUR"))
    assert currency is not None and currency.fields == ("amount",)  # shown as the amount with its currency
    both = compare(base, version(seller={"email": "a@example.com"}, buyer={"email": "b@example.com"}))
    assert both is not None and both.seller_changed and both.buyer_changed
