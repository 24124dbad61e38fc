"""What an escrow change must still do on Discord, decided in the change's own transaction: refresh the
ticket's summary, post a status line, and tell whoever must act next. Written to the outbox
(`bot.services.outbox`), keyed by the change's audit entry, so each happens once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.services.escrow.results import Change, TicketView
from bot.services.escrow.rules import Action, Role, State, next_steps
from bot.services.outbox import Effect, Kind


@dataclass(frozen=True, slots=True)
class Line:
    """A change as the ticket's status line shows it."""

    action: Action
    actor: str
    role: Role
    source: State
    target: State
    note: str | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "actor": self.actor,
            "role": self.role.value,
            "source": self.source.value,
            "target": self.target.value,
            "note": self.note,
        }

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Line:
        return cls(
            Action(data["action"]), data["actor"], Role(data["role"]), State(data["source"]), State(data["target"]),
            data.get("note"),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class NextStep:
    """Someone's turn: `user_id` should do `step` now that the order is `state`."""

    user_id: int
    state: State
    step: str

    def payload(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "state": self.state.value, "step": self.step}

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> NextStep:
        return cls(int(data["user_id"]), State(data["state"]), str(data["step"]))


def plan(change: Change, *, held_until: datetime | None = None) -> list[Effect]:
    """The effects of a change on its ticket (none while the order has no ticket); `held_until`: the one who
    made the change does them right after the commit."""
    ticket = change.ticket
    if ticket is None:
        return []
    order_id, seq = change.order_id, change.audit_seq
    line = Line(change.action, change.actor, change.role, change.source, change.target, change.note)
    effects = [
        Effect(order_id, Kind.REFRESH_SUMMARY, f"summary:{order_id}:{seq}", held_until=held_until),
        Effect(order_id, Kind.POST_LINE, f"line:{order_id}:{seq}", line.payload(), held_until),
    ]
    if change.state_changed or change.action is Action.APPROVE:
        for rule in next_steps(change.target, approved=change.approved):
            for user_id in _people(ticket, rule.roles):
                step = NextStep(user_id, rule.source, rule.label)
                key = f"tell:{order_id}:{seq}:{user_id}"
                effects.append(Effect(order_id, Kind.TELL_PARTY, key, step.payload(), held_until))
    return effects


def _people(ticket: TicketView, roles: frozenset[Role]) -> list[int]:
    people = []
    if Role.FREELANCER in roles:
        people.append(ticket.freelancer_id)
    if Role.BUYER in roles and ticket.buyer_id is not None:
        people.append(ticket.buyer_id)
    if Role.OFFICER in roles and ticket.claimed_by is not None:
        people.append(ticket.claimed_by)  # the officer who claimed the ticket; unclaimed tickets are in the queue
    return people
