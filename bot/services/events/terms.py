"""An order's terms as one fingerprint, and what changed between two versions of them.

**The canonical terms digest** (`terms_digest`) is the SHA-256, in hex, of this UTF-8 JSON text: an object
with exactly these keys, sorted, no spaces (`separators=(",", ":")`), non-ASCII kept as it is:

| key | value |
|---|---|
| `v` | `1` (the layout of this text; a new layout gets a new number) |
| `amount` | the amount with exactly two decimals, `"120.50"` |
| `currency` | the ISO 4217 code in capitals, `"USD"` |
| `delivery_due` | the due time in UTC, ISO-8601 with seconds, `"2026-12-01T10:00:00+00:00"` |
| `deliverables` | the text exactly as agreed |
| `gig` | the normalised gig link (`tickets.links.gig_key`: scheme, host case, `www.`, slash, query ignored) |
| `seller_email`, `buyer_email` | trimmed, lower case |

These are the terms people agree to and are checked against: what is paid, for what, by when, and who the
two parties are. Names, the conversation link and `agreed_at` are not terms: a change of them alone changes
nothing. Two agreements with the same digest are the same deal; the audit entry of a change of terms (action
`terms`) holds the old and the new digest, so anyone holding an agreement can tell which terms were in force.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

DIGEST_LAYOUT = 1
FIELDS = ("amount", "delivery_due", "deliverables", "gig", "seller_email", "buyer_email")  # in the order shown


class Terms(Protocol):
    """What the digest reads: an `Order`, an `OrderTerms` row, or the values of an agreement."""

    @property
    def amount(self) -> Decimal: ...

    @property
    def currency(self) -> str: ...

    @property
    def delivery_due(self) -> datetime: ...

    @property
    def deliverables(self) -> str: ...

    @property
    def gig_key(self) -> str: ...

    @property
    def gig_url(self) -> str: ...

    @property
    def seller_email(self) -> str: ...

    @property
    def buyer_email(self) -> str: ...


def _amount(value: Decimal) -> str:
    return format(Decimal(value).quantize(Decimal("0.01")), "f")


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def canonical(terms: Terms) -> dict[str, object]:
    return {
        "v": DIGEST_LAYOUT,
        "amount": _amount(terms.amount),
        "currency": terms.currency.strip().upper(),
        "delivery_due": _utc(terms.delivery_due),
        "deliverables": terms.deliverables,
        "gig": terms.gig_key,
        "seller_email": terms.seller_email.strip().lower(),
        "buyer_email": terms.buyer_email.strip().lower(),
    }


def canonical_text(terms: Terms) -> str:
    return json.dumps(canonical(terms), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def terms_digest(terms: Terms) -> str:
    """The SHA-256 (hex) of the terms' canonical text (see the module's docstring)."""
    return hashlib.sha256(canonical_text(terms).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class TermsChange:
    """Two versions of an order's terms: their digests and which of `FIELDS` differ."""

    old_digest: str
    new_digest: str
    fields: tuple[str, ...]

    @property
    def seller_changed(self) -> bool:
        return "seller_email" in self.fields

    @property
    def buyer_changed(self) -> bool:
        return "buyer_email" in self.fields


def compare(old: Terms, new: Terms) -> TermsChange | None:
    """What changed from `old` to `new` (None: the same terms)."""
    before, after = canonical(old), canonical(new)
    if before == after:
        return None
    changed = [name for name in FIELDS if before[name] != after[name]]
    if before["currency"] != after["currency"] and "amount" not in changed:
        changed.insert(0, "amount")  # the amount is shown with its currency
    return TermsChange(terms_digest(old), terms_digest(new), tuple(changed))
