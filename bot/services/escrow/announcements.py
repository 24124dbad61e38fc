"""What an escrow change must still do on Discord, decided in the change's own transaction: rebuild the
ticket's summary, post a line in the ticket, and tell the people it concerns. Written to the outbox
(`bot.services.outbox`), keyed by the change's audit entry, so each happens once.

Who hears what:

* **money events** (the buyer's payment confirmed, a dispute, a release, a refund, a cancellation): both
  parties, and the officer who claimed the ticket unless they did it themselves;
* **whose turn it is now** (`rules.next_steps`): the freelancer, the buyer, or the officer who claimed the
  ticket; with nobody claiming it, the line in the ticket pings the officer role instead. A release is the
  officer's turn only once the buyer approved, so they hear it once, when it is true;
* the line **pings the officer role** for every dispute, for a cancellation by the marketplace, and for the
  marketplace's flags;
* a **take-over**: the officer who held the ticket before.

Each person gets at most one DM per change (the news and, if it is theirs, their turn).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.services.escrow.results import MARKETPLACE, Change, TicketView
from bot.services.escrow.rules import Action, Role, State, next_steps
from bot.services.outbox import Effect, Kind

# The states whose arrival is news for both parties: money moved, or the deal's fate did.
MONEY_EVENTS = frozenset({State.FUNDED, State.DISPUTED, State.RELEASED, State.REFUNDED, State.CANCELLED})


@dataclass(frozen=True, slots=True)
class Line:
    """A change as the ticket's line shows it; `ping`: the line pings the officer role."""

    action: Action
    actor: str
    role: Role
    source: State
    target: State
    note: str | None = None
    ping: bool = False
    previous: int | None = None  # a take-over: the officer who held the ticket before
    # New terms: (field, was, now) for each term that changed (`events.terms.FIELDS`), emails already masked.
    changes: tuple[tuple[str, str, str], ...] = ()

    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "action": self.action.value,
            "actor": self.actor,
            "role": self.role.value,
            "source": self.source.value,
            "target": self.target.value,
            "note": self.note,
            "ping": self.ping,
            "previous": self.previous,
        }
        if self.changes:
            payload["changes"] = [list(change) for change in self.changes]
        return payload

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Line:
        action = Action(data["action"])
        changes = tuple((str(c[0]), str(c[1]), str(c[2])) for c in data.get("changes") or ())
        return cls(
            action, data["actor"], Role(data["role"]), State(data["source"]), State(data["target"]), data.get("note"),
            bool(data.get("ping", action is Action.FLAG)), data.get("previous"), changes,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Removal:
    """A party whose email changed on the order (`side`: buyer or freelancer), in two steps of one kind (so the
    second waits for the first, and a retried removal never repeats the message): told to verify again while they
    can still read the ticket (`tell`), then taken out of its channel."""

    user_id: int
    side: Role
    tell: bool = False

    def payload(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "side": self.side.value, "tell": self.tell}

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Removal:
        return cls(int(data["user_id"]), Role(data["side"]), bool(data.get("tell")))


@dataclass(frozen=True, slots=True)
class Notice:
    """News for one person about an order: what happened (`action` by `actor`, leaving it in `state`; or the
    buyer `joined`) and, when it is now theirs, their `turn`."""

    user_id: int
    state: State
    action: Action | None = None
    turn: Action | None = None
    actor: str = ""
    role: Role | None = None
    joined: int | None = None  # the buyer who joined the ticket (news that is not an escrow change)

    def payload(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "state": self.state.value,
            "action": self.action.value if self.action else None,
            "turn": self.turn.value if self.turn else None,
            "actor": self.actor,
            "role": self.role.value if self.role else None,
            "joined": self.joined,
        }

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Notice:
        """Also reads the payload of before (`user_id`, `state`, `step`): a turn, without the news."""
        action, turn, role = data.get("action"), data.get("turn"), data.get("role")
        return cls(
            int(data["user_id"]), State(data["state"]), Action(action) if action else None,
            Action(turn) if turn else None, str(data.get("actor") or ""), Role(role) if role else None,
            data.get("joined"),
        )  # fmt: skip


def plan(change: Change, *, held_until: datetime | None = None) -> list[Effect]:
    """The effects of a change on its ticket (none while the order has no ticket); `held_until`: the one who
    made the change does them right after the commit."""
    ticket = change.ticket
    if ticket is None:
        return []
    order_id, seq = change.order_id, change.audit_seq
    turns = _turns(change)
    ping = _pings_officers(change, ticket, turns)
    line = Line(change.action, change.actor, change.role, change.source, change.target, change.note, ping,
                change.replaced)  # fmt: skip
    effects = [
        Effect(order_id, Kind.REFRESH_SUMMARY, f"summary:{order_id}:{seq}", held_until=held_until),
        Effect(order_id, Kind.POST_LINE, f"line:{order_id}:{seq}", line.payload(), held_until),
    ]
    for notice in notices(change, ticket, turns):
        key = f"tell:{order_id}:{seq}:{notice.user_id}"
        effects.append(Effect(order_id, Kind.TELL_PARTY, key, notice.payload(), held_until))
    return effects


def _turns(change: Change) -> list[tuple[Action, frozenset[Role]]]:
    """Whose turn the change made it (a claim or a flag changes nobody's)."""
    if not (change.state_changed or change.action is Action.APPROVE):
        return []
    seen: dict[Action, frozenset[Role]] = {}
    for rule in next_steps(change.target, approved=change.approved):
        seen.setdefault(rule.action, rule.roles)
    return list(seen.items())


def _pings_officers(change: Change, ticket: TicketView, turns: list[tuple[Action, frozenset[Role]]]) -> bool:
    if change.action in (Action.FLAG, Action.TERMS):
        return True
    if change.state_changed and change.target is State.DISPUTED:
        return True
    if change.target is State.CANCELLED and change.actor == MARKETPLACE:
        return True
    officers_turn = any(Role.OFFICER in roles for _action, roles in turns)
    return officers_turn and ticket.claimed_by is None


def notices(change: Change, ticket: TicketView, turns: list[tuple[Action, frozenset[Role]]]) -> list[Notice]:
    """Each person the change concerns, once: the news, and their turn if it is theirs."""
    if change.action is Action.TAKE_OVER:
        return [_news(change, change.replaced)] if change.replaced is not None else []
    told: dict[int, Notice] = {}
    actor = int(change.actor) if change.actor.isdigit() else None
    if change.state_changed and change.target in MONEY_EVENTS:
        for user_id in (_freelancer(ticket), ticket.buyer_id):
            if user_id is not None:
                told[user_id] = _news(change, user_id)
        if ticket.claimed_by is not None and ticket.claimed_by != actor:
            told[ticket.claimed_by] = _news(change, ticket.claimed_by)
    freelancer = _freelancer(ticket)
    if change.action is Action.APPROVE and freelancer is not None and actor != freelancer:
        told[freelancer] = _news(change, freelancer)
    for action, roles in turns:
        for user_id in _people(ticket, roles):
            told[user_id] = _news(change, user_id, turn=action)
    return list(told.values())


def _freelancer(ticket: TicketView) -> int | None:
    """The ticket's freelancer; None while the order's seller email waits to be proven again."""
    return None if ticket.freelancer_unverified else ticket.freelancer_id


def _news(change: Change, user_id: int, *, turn: Action | None = None) -> Notice:
    return Notice(user_id, change.target, change.action, turn, change.actor, change.role)


def _people(ticket: TicketView, roles: frozenset[Role]) -> list[int]:
    people = []
    if Role.FREELANCER in roles and (freelancer := _freelancer(ticket)) is not None:
        people.append(freelancer)
    if Role.BUYER in roles and ticket.buyer_id is not None:
        people.append(ticket.buyer_id)
    if Role.OFFICER in roles and ticket.claimed_by is not None:
        people.append(ticket.claimed_by)  # the officer who claimed the ticket; unclaimed: the role is pinged
    return people
