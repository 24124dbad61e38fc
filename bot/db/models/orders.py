"""Orders agreed on the marketplace: current terms on `Order`, every version in `OrderTerms`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy import Column, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Field, SQLModel

from bot.db.types import BigIntPK, Money, UTCDateTime, utcnow


class Party(BaseModel):
    email: str
    name: str | None = None
    user_id: str | None = None


class TermsFields(SQLModel):
    """The agreed terms, as carried by `order.agreed` and `order.updated`."""

    gig_url: str = Field(sa_type=Text)
    gig_key: str = Field(sa_type=Text)  # the normalised gig link, for matching
    conversation_url: str | None = Field(default=None, sa_type=Text)
    seller_email: str = Field(max_length=320)
    seller_name: str | None = Field(default=None, max_length=200)
    seller_user_id: str | None = Field(default=None, max_length=200)
    buyer_email: str = Field(max_length=320)
    buyer_name: str | None = Field(default=None, max_length=200)
    buyer_user_id: str | None = Field(default=None, max_length=200)
    amount: Decimal = Field(sa_type=Money)
    currency: str = Field(max_length=3)
    delivery_due: datetime = Field(sa_type=UTCDateTime)
    deliverables: str = Field(sa_type=Text)
    agreed_at: datetime = Field(sa_type=UTCDateTime)


class Order(TermsFields, table=True):
    __tablename__ = "orders"

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    terms_version: int = 1
    terms_event_id: str = Field(sa_column=Column(String(255), nullable=False))
    delivered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    delivery_note: str | None = Field(default=None, sa_column=Column(Text))
    completed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    cancelled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    cancel_reason: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class email_key(FunctionElement[str]):
    """`lower(trim(x))`, spelled as each database stores it in an index definition."""

    inherit_cache = True
    type = String()


@compiles(email_key)
def _email_key(element: email_key, compiler: SQLCompiler, **kw: object) -> str:
    return f"lower(trim({compiler.process(element.clauses, **kw)}))"


@compiles(email_key, "postgresql")
def _email_key_pg(element: email_key, compiler: SQLCompiler, **kw: object) -> str:
    return f"lower(TRIM(BOTH FROM {compiler.process(element.clauses, **kw)}))"


# `/guarantee open` finds orders by gig link and by seller email (trimmed, any case): the query in
# `repos/orders.py` uses exactly this expression, so the index serves it.
SELLER_EMAIL_KEY = email_key(Order.seller_email)
Index("ix_orders_gig_key", Order.gig_key)
Index("ix_orders_seller_email_key", SELLER_EMAIL_KEY)


class OrderTerms(TermsFields, table=True):
    """One row per terms event received for an order, applied or not."""

    __tablename__ = "order_terms"
    __table_args__ = (UniqueConstraint("order_id", "event_id"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    order_id: str = Field(
        sa_column=Column(String(64), ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    event_id: str = Field(sa_column=Column(String(255), nullable=False))
    event_type: str = Field(sa_column=Column(String(64), nullable=False))
    applied: bool = True
    note: str | None = Field(default=None, sa_column=Column(Text))
    received_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
