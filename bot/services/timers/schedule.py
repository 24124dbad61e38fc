"""Which timers a change sets, and whether what a timer waits for still holds.

Set in the transaction of the change (a ticket opened; an escrow funded, delivered or disputed), counted from
the change's own time (`now`, the time its rows record; no extra round trip on the open path) and compared,
when due, with the database's clock. Nothing cancels a timer: when it is due, `still_holds` looks at the order
as it is then, and a timer whose reason has passed (the ticket claimed, the work delivered or approved, the
dispute decided) ends silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Escrow, Order, Ticket, TicketState
from bot.db.repos import timers as repo
from bot.services.escrow.rules import State


class TimerKind(StrEnum):
    UNCLAIMED = "unclaimed"  # a ticket no officer claimed: remind the officer role in the ticket
    DELIVERY_OVERDUE = "delivery_overdue"  # the delivery date passed, not delivered: the freelancer and officers
    APPROVAL_REMINDER = "approval_reminder"  # delivered, not approved: remind the buyer
    APPROVAL_OVERDUE = "approval_overdue"  # still not approved a second period later: flag the officers
    DISPUTE_ESCALATION = "dispute_escalation"  # a dispute undecided: escalate in the log channel


@dataclass(frozen=True, slots=True)
class TimerPeriods:
    """How long each timer waits (`UNCLAIMED_REMINDER_MINUTES`, `APPROVAL_REMINDER_HOURS`,
    `DISPUTE_ESCALATION_HOURS`)."""

    unclaimed: timedelta = timedelta(minutes=30)
    approval: timedelta = timedelta(hours=48)
    dispute: timedelta = timedelta(hours=72)

    @classmethod
    def of(cls, *, unclaimed_minutes: int, approval_hours: int, dispute_hours: int) -> TimerPeriods:
        return cls(
            timedelta(minutes=unclaimed_minutes), timedelta(hours=approval_hours), timedelta(hours=dispute_hours)
        )


DEFAULT_PERIODS = TimerPeriods()


@dataclass(frozen=True, slots=True)
class TimerNotice:
    """What a fired timer has said (the `timer.notice` effect): which timer, since when its reason holds, and
    where a dispute's escalation goes (the server's log channel; None: the ticket)."""

    kind: TimerKind
    since: datetime
    log_channel_id: int | None = None

    def payload(self) -> dict[str, Any]:
        return {"timer": self.kind.value, "since": self.since.isoformat(), "log_channel_id": self.log_channel_id}

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> TimerNotice:
        log_channel = data.get("log_channel_id")
        return cls(
            TimerKind(data["timer"]), datetime.fromisoformat(data["since"]), int(log_channel) if log_channel else None
        )


def timer_key(kind: TimerKind, order_id: str, generation: int) -> str:
    return f"timer:{kind.value}:{order_id}:{generation}"


async def _set(
    session: AsyncSession, order_id: str, generation: int, now: datetime, due: list[tuple[TimerKind, datetime]]
) -> int:
    rows = [
        {"kind": kind.value, "order_id": order_id, "generation": generation, "due_at": due_at, "created_at": now,
         "key": timer_key(kind, order_id, generation)}
        for kind, due_at in due
    ]  # fmt: skip
    return await repo.add(session=session, rows=rows)


async def ticket_opened(
    session: AsyncSession, order_id: str, *, opening: int, periods: TimerPeriods, now: datetime
) -> int:
    """A ticket was opened (or reopened: `opening` tells the openings apart) `now`: remind the officers if nobody
    claims it in time."""
    return await _set(session, order_id, opening, now, [(TimerKind.UNCLAIMED, now + periods.unclaimed)])


async def escrow_moved(
    session: AsyncSession, order: Order | None, target: State, *, version: int, periods: TimerPeriods, now: datetime
) -> int:
    """The escrow entered `target` (at `version`): funded waits for the delivery date, delivered for the buyer's
    approval (a reminder, then the officers), disputed for a decision."""
    if order is None:
        return 0
    due: list[tuple[TimerKind, datetime]] = []
    if target is State.FUNDED:
        due = [(TimerKind.DELIVERY_OVERDUE, order.delivery_due)]
    elif target is State.DELIVERED:
        due = [
            (TimerKind.APPROVAL_REMINDER, now + periods.approval),
            (TimerKind.APPROVAL_OVERDUE, now + 2 * periods.approval),
        ]
    elif target is State.DISPUTED:
        due = [(TimerKind.DISPUTE_ESCALATION, now + periods.dispute)]
    return await _set(session, order.id, version, now, due) if due else 0


def still_holds(kind: TimerKind, ticket: Ticket | None, order: Order | None, escrow: Escrow | None) -> bool:
    """Whether what the timer waits for is still so (checked when it is due, and again when its message goes)."""
    if ticket is None or order is None or ticket.state not in (TicketState.OPENING, TicketState.OPEN):
        return False  # no live ticket to say it in
    state = State(escrow.state) if escrow is not None else State.AWAITING_FUNDING
    # Approved here, or by an `order.completed` after delivery (one that came earlier never counts: PRODUCT.md §4).
    approved = escrow is not None and escrow.approved_at is not None
    if kind is TimerKind.UNCLAIMED:
        return ticket.claimed_by is None and not state.terminal
    if kind is TimerKind.DELIVERY_OVERDUE:
        return state is State.FUNDED and order.delivered_at is None
    if kind is TimerKind.APPROVAL_REMINDER:
        return state is State.DELIVERED and not approved and ticket.buyer_id is not None
    if kind is TimerKind.APPROVAL_OVERDUE:
        return state is State.DELIVERED and not approved
    return state is State.DISPUTED
