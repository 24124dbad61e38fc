"""The escrow state machine as data: ONE table says which action moves which state, who may
trigger it and what note it needs. The service's checks and the buttons shown are both
derived from `RULES`; nothing else encodes a transition.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from bot.services.vocabulary import state_words


class State(StrEnum):
    AWAITING_FUNDING = "awaiting_funding"
    FUNDED = "funded"
    DELIVERED = "delivered"
    DISPUTED = "disputed"
    RELEASED = "released"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def label(self) -> str:
        """The state in words (`waiting for payment`), as people read it (`bot.services.vocabulary`)."""
        return state_words(self.value)


TERMINAL = frozenset({State.RELEASED, State.REFUNDED, State.CANCELLED})
MONEY_STATES = frozenset({State.RELEASED, State.REFUNDED})


class Role(StrEnum):
    OFFICER = "officer"
    BUYER = "buyer"
    FREELANCER = "freelancer"
    MARKETPLACE = "marketplace"
    OUTSIDER = "outsider"  # anyone else: may look, never act


class Action(StrEnum):
    CLAIM = "claim"  # an officer takes the ticket (no state change)
    TAKE_OVER = "take_over"  # another officer takes a claimed ticket over (no state change; the first is told)
    FUND = "fund"
    CANCEL = "cancel"
    DELIVER = "deliver"
    APPROVE = "approve"  # the buyer accepts the delivery (no state change; recorded)
    RELEASE = "release"
    REFUND = "refund"
    DISPUTE = "dispute"
    FLAG = "flag"  # the marketplace reported something officers must look at; no rule, no state change
    TERMS = "terms"  # the marketplace changed the terms before funding; no rule, no state change, a new version


class Note(StrEnum):
    NONE = "none"  # no note asked for (one given is still recorded)
    PAYMENT_REFERENCE = "payment reference"
    REASON = "reason"
    RESOLUTION = "resolution"
    OVERRIDE_REASON = "override reason"  # required only while the buyer has not approved


@dataclass(frozen=True, slots=True)
class Rule:
    action: Action
    source: State
    target: State
    roles: frozenset[Role]
    note: Note = Note.NONE
    label: str = ""
    confirm: bool = False  # a click asks "are you sure?" (naming the amount and who gets it) before anything moves

    def note_required(self, *, approved: bool) -> Note | None:
        """Which note must accompany this transition, if any."""
        if self.note is Note.NONE or (self.note is Note.OVERRIDE_REASON and approved):
            return None
        return self.note


_S = State
_OFFICER = frozenset({Role.OFFICER})
_PARTIES = frozenset({Role.BUYER, Role.FREELANCER})


def _r(
    action: Action, source: State, target: State, roles: Iterable[Role], note: Note, label: str,
    *, confirm: bool = False
) -> Rule:  # fmt: skip
    return Rule(action, source, target, frozenset(roles), note, label, confirm)


RULES: tuple[Rule, ...] = (
    _r(Action.FUND, _S.AWAITING_FUNDING, _S.FUNDED, _OFFICER, Note.PAYMENT_REFERENCE, "Confirm payment received"),
    _r(Action.CANCEL, _S.AWAITING_FUNDING, _S.CANCELLED, _OFFICER | {Role.MARKETPLACE}, Note.NONE, "Cancel order",
       confirm=True),
    _r(Action.DELIVER, _S.FUNDED, _S.DELIVERED, {Role.FREELANCER, Role.MARKETPLACE}, Note.NONE, "Mark delivered"),
    _r(Action.APPROVE, _S.DELIVERED, _S.DELIVERED, {Role.BUYER, Role.MARKETPLACE}, Note.NONE, "Approve the work"),
    _r(Action.RELEASE, _S.DELIVERED, _S.RELEASED, _OFFICER, Note.OVERRIDE_REASON, "Release payment", confirm=True),
    _r(Action.DISPUTE, _S.FUNDED, _S.DISPUTED, _PARTIES, Note.REASON, "Open dispute"),
    _r(Action.DISPUTE, _S.DELIVERED, _S.DISPUTED, _PARTIES, Note.REASON, "Open dispute"),
    _r(Action.RELEASE, _S.DISPUTED, _S.RELEASED, _OFFICER, Note.RESOLUTION, "Resolve: release to freelancer",
       confirm=True),
    _r(Action.REFUND, _S.DISPUTED, _S.REFUNDED, _OFFICER, Note.RESOLUTION, "Resolve: refund buyer", confirm=True),
    _r(Action.REFUND, _S.FUNDED, _S.REFUNDED, _OFFICER, Note.REASON, "Refund buyer", confirm=True),
    _r(Action.REFUND, _S.DELIVERED, _S.REFUNDED, _OFFICER, Note.REASON, "Refund buyer", confirm=True),
    *(_r(Action.CLAIM, s, s, _OFFICER, Note.NONE, "Claim") for s in State if not s.terminal),
    *(_r(Action.TAKE_OVER, s, s, _OFFICER, Note.NONE, "Take over", confirm=True) for s in State if not s.terminal),
)  # fmt: skip

_BY_KEY: dict[tuple[Action, State], Rule] = {(rule.action, rule.source): rule for rule in RULES}
assert len(_BY_KEY) == len(RULES), "two rules for one (action, state)"


def rule_for(action: Action, state: State) -> Rule | None:
    return _BY_KEY.get((action, state))


def rules_from(state: State) -> list[Rule]:
    """Every action possible in `state`, in table order (the order buttons are shown)."""
    return [rule for rule in RULES if rule.source is state]


def targets_of(action: Action) -> frozenset[State]:
    return frozenset(rule.target for rule in RULES if rule.action is action)


def pick_role(action: Action, state: State, held: Iterable[Role]) -> Role:
    """The role a person acts in: the one the rule accepts, preferring an officer role so that
    an officer who is also a party meets the separation-of-duties check rather than a vaguer no."""
    held = set(held)
    rule = rule_for(action, state)
    if rule is not None:
        for role in (Role.OFFICER, Role.BUYER, Role.FREELANCER):
            if role in held and role in rule.roles:
                return role
    for role in (Role.OFFICER, Role.FREELANCER, Role.BUYER):
        if role in held:
            return role
    return Role.OUTSIDER


def _is_duty(rule: Rule, *, approved: bool) -> bool:
    """Whether `rule` is what moves the deal forward now (disputes, refunds, claims and cancellations are
    options, not duties). A release is the officer's turn only once the buyer approved; a dispute is theirs
    to decide either way."""
    if rule.source is State.DISPUTED:
        return rule.action in (Action.RELEASE, Action.REFUND)
    if rule.action is Action.APPROVE:
        return not approved
    if rule.action is Action.RELEASE:
        return approved
    return rule.action in (Action.FUND, Action.DELIVER)


def next_steps(state: State, *, approved: bool) -> list[Rule]:
    """Whose turn it is in `state` (who is in each rule's roles), from the same table."""
    return [rule for rule in rules_from(state) if _is_duty(rule, approved=approved)]
