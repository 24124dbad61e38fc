"""The marketplace's event contract (PRODUCT.md §2) as pydantic models.

The webhook adapter validates incoming bodies with these models; the processor parses
the stored copy with the same ones, so what was accepted is exactly what is applied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from pydantic_core import ErrorDetails

from bot.services.tickets.links import LinkError, parse_gig_link

MAX_BODY_BYTES = 64 * 1024
# Plain ASCII digits, at most two decimals: no exponent, sign, underscores or other scripts' digits.
_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]{1,2})?", re.ASCII)
# 15 significant digits survive SQLite's floating-point NUMERIC storage exactly.
MAX_AMOUNT = Decimal("9999999999999.99")
_NUMBER = re.compile(r"\s*[+-]?[0-9]+(?:\.[0-9]*)?\s*", re.ASCII)
# No control characters other than tab and newlines (PostgreSQL cannot even store NUL in text).
# A `pattern` constraint runs inside pydantic-core (Rust), unlike a Python validator per field.
_CONTROL_FREE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
_PATTERN_MESSAGES = {_CONTROL_FREE: "must not contain control characters"}
_ORDER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
# The everyday shape of a link: http(s), a plain host name, no port, user or whitespace. Every
# such link is one `parse_gig_link` accepts (tests/services/test_marketplace_schema.py checks
# that); anything else takes the full parse.
_PLAIN_LINK = re.compile(r"https?://[a-z0-9-]+(?:\.[a-z0-9-]+)*(?:[/?#][^\s\\]*)?", re.ASCII | re.IGNORECASE)


def _iso_text(value: Any) -> Any:
    # pydantic would also take a Unix timestamp (number or numeric string); the contract says ISO-8601.
    if not isinstance(value, str) or _NUMBER.fullmatch(value):
        raise ValueError("must be an ISO-8601 date-time string with a UTC offset")
    return value


IsoDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_text)]

OrderId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
# An address the marketplace registered: one @, no spaces, a dotted domain. (A full RFC 5322 parse
# costs more than all the rest of the request; the sender is authenticated and the value is
# only ever compared, case-insensitively, with what a user types.)
Email = Annotated[
    str, Field(max_length=320, pattern=r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s.\x00-\x1f\x7f]+(\.[^@\s.\x00-\x1f\x7f]+)+$")
]
Text = Annotated[str, Field(min_length=1, max_length=4000, pattern=_CONTROL_FREE)]
ShortText = Annotated[str, Field(min_length=1, max_length=200, pattern=_CONTROL_FREE)]
Link = Annotated[str, Field(min_length=1, max_length=2000, pattern=_CONTROL_FREE)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)


class PartyData(_Model):
    email: Email
    name: ShortText | None = None
    user_id: ShortText | None = None


class TermsData(_Model):
    order_id: OrderId
    gig_url: Link
    conversation_url: Link | None = None
    seller: PartyData
    buyer: PartyData
    amount: Annotated[str, Field(min_length=1, max_length=32)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    delivery_due: IsoDatetime
    deliverables: Text
    agreed_at: IsoDatetime

    @field_validator("gig_url", "conversation_url")
    @classmethod
    def _link(cls, value: str | None) -> str | None:
        if value is not None and not _PLAIN_LINK.fullmatch(value):
            try:
                parse_gig_link(value)
            except LinkError as exc:
                raise ValueError(str(exc)) from None
            if not value.lower().startswith(("http://", "https://")):
                raise ValueError("must be an http(s) link")
        return value

    @field_validator("amount")
    @classmethod
    def _amount(cls, value: str) -> str:
        parse_amount(value)
        return value

    @property
    def amount_decimal(self) -> Decimal:
        return parse_amount(self.amount)


class DeliveredData(_Model):
    order_id: OrderId
    delivered_at: IsoDatetime
    note: Text | None = None


class CompletedData(_Model):
    order_id: OrderId
    completed_at: IsoDatetime


class CancelledData(_Model):
    order_id: OrderId
    reason: Text | None = None


EventData = TermsData | DeliveredData | CompletedData | CancelledData
DATA_MODELS: dict[str, type[EventData]] = {
    "order.agreed": TermsData,
    "order.updated": TermsData,
    "order.delivered": DeliveredData,
    "order.completed": CompletedData,
    "order.cancelled": CancelledData,
}
KnownType = Literal["order.agreed", "order.updated", "order.delivered", "order.completed", "order.cancelled"]


class Envelope(_Model):
    type: Annotated[str, Field(min_length=1, max_length=64, pattern=_CONTROL_FREE)]
    timestamp: IsoDatetime
    data: dict[str, Any]


# The same envelope with its data typed, one model per known type, for `parse_event_json`'s
# single pass over a valid event of a known type.
class _AgreedOrUpdated(_Model):
    type: Literal["order.agreed", "order.updated"]
    timestamp: IsoDatetime
    data: TermsData


class _Delivered(_Model):
    type: Literal["order.delivered"]
    timestamp: IsoDatetime
    data: DeliveredData


class _Completed(_Model):
    type: Literal["order.completed"]
    timestamp: IsoDatetime
    data: CompletedData


class _Cancelled(_Model):
    type: Literal["order.cancelled"]
    timestamp: IsoDatetime
    data: CancelledData


_KNOWN_EVENT: TypeAdapter[_AgreedOrUpdated | _Delivered | _Completed | _Cancelled] = TypeAdapter(
    Annotated[_AgreedOrUpdated | _Delivered | _Completed | _Cancelled, Field(discriminator="type")]
)


@dataclass(frozen=True, slots=True)
class MarketplaceEvent:
    """A validated event: the envelope plus its typed data (None for an unknown type)."""

    type: str
    timestamp: datetime
    data: EventData | None
    raw_order_id: str | None = None

    @property
    def order_id(self) -> str | None:
        return self.data.order_id if self.data is not None else self.raw_order_id


class PayloadError(ValueError):
    """The body is JSON but breaks the schema; `fields` lists each bad field and why."""

    def __init__(self, fields: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{f['field']}: {f['message']}" for f in fields))
        self.fields = fields


def parse_amount(value: str) -> Decimal:
    """A decimal string greater than zero with at most two decimals; never a float."""
    if not _AMOUNT.fullmatch(value):
        raise ValueError("must be a decimal string such as '120.50' (digits, at most 2 decimals)")
    amount = Decimal(value)
    if amount <= 0:
        raise ValueError("must be greater than 0")
    if amount > MAX_AMOUNT:
        raise ValueError(f"must be at most {MAX_AMOUNT}")
    return amount


def _message(error: ErrorDetails) -> str:
    if error["type"] == "string_pattern_mismatch":
        known = _PATTERN_MESSAGES.get(str(error.get("ctx", {}).get("pattern")))
        if known is not None:
            return known
    return str(error["msg"]).removeprefix("Value error, ")


def _fields(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    return [
        {
            "field": prefix + ".".join(str(part) for part in error["loc"]) if error["loc"] else prefix.rstrip("."),
            "message": _message(error),
        }
        for error in exc.errors(include_url=False)
    ]


class NotJsonError(ValueError):
    """The body is not a JSON document."""


_NOT_JSON = frozenset({"json_invalid", "string_unicode"})  # pydantic-core's error types for the input itself


def parse_event_json(body: str | bytes) -> MarketplaceEvent:
    """Parse and validate an event body with pydantic-core's JSON parser, in one pass when it is valid.

    The webhook and the processor both use this, so what was accepted is exactly what is
    applied. Raises `NotJsonError`, or `PayloadError` naming every bad field.
    """
    try:
        known = _KNOWN_EVENT.validate_json(body)
        return MarketplaceEvent(type=known.type, timestamp=known.timestamp, data=known.data)
    except ValidationError:
        pass  # an unknown type, or a bad event: the general path below tells which, and names the fields
    try:
        envelope = Envelope.model_validate_json(body)
    except ValidationError as exc:
        if any(error["type"] in _NOT_JSON for error in exc.errors(include_url=False)):
            raise NotJsonError("the body is not valid JSON") from None
        raise PayloadError(_fields(exc)) from None
    return _typed(envelope)


def parse_event(document: Any) -> MarketplaceEvent:
    """Validate a decoded JSON document; raises `PayloadError` naming every bad field."""
    try:
        envelope = Envelope.model_validate(document)
    except ValidationError as exc:
        raise PayloadError(_fields(exc)) from None
    return _typed(envelope)


def _typed(envelope: Envelope) -> MarketplaceEvent:
    model = DATA_MODELS.get(envelope.type)
    if model is None:
        order_id = envelope.data.get("order_id")
        return MarketplaceEvent(
            type=envelope.type,
            timestamp=envelope.timestamp,
            data=None,
            raw_order_id=order_id if isinstance(order_id, str) and _ORDER_ID.fullmatch(order_id) else None,
        )
    try:
        data = model.model_validate(envelope.data)
    except ValidationError as exc:
        raise PayloadError(_fields(exc, "data.")) from None
    return MarketplaceEvent(type=envelope.type, timestamp=envelope.timestamp, data=data)
