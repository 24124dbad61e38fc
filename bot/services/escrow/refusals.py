"""Why someone may not do an escrow action, worded for whoever clicked, each with what to do instead.

The service decides (`EscrowService._check_actor`, `_rule`); this module only words the answer, with the
vocabulary of `bot.services.vocabulary`, so no refusal shows a state or role as the database spells it.
"""

from __future__ import annotations

from bot.services.errors import ConflictError, GuaranteeError, PermissionDeniedError
from bot.services.escrow.results import (
    AlreadyDoneError,
    BuyerNotJoinedError,
    InvalidTransitionError,
    SeparationOfDutiesError,
)
from bot.services.escrow.rules import Action, Role, Rule, State, targets_of
from bot.services.vocabulary import ACTION_WORDS, OFFICER, OFFICERS, join_command

_LOOK = "Look at the ticket's summary (the pinned message) for what comes next."

# What a party who may not do an officer's action can do instead, and the other way round.
_INSTEAD: dict[tuple[Action, Role], str] = {
    (Action.FUND, Role.BUYER): f"Pay only as a {OFFICER} tells you in this ticket, then tell them here; they "
    "confirm it.",
    (Action.FUND, Role.FREELANCER): f"A {OFFICER} confirms it once the buyer has paid as instructed in this ticket.",
    (Action.CANCEL, Role.BUYER): f"If you want to cancel, say so in this ticket: a {OFFICER} handles it.",
    (Action.CANCEL, Role.FREELANCER): f"If you want to cancel, say so in this ticket: a {OFFICER} handles it.",
    (Action.RELEASE, Role.BUYER): f"If you are happy with the work, click **Approve the work**: a {OFFICER} then "
    "releases the payment.",
    (Action.RELEASE, Role.FREELANCER): f"Once the buyer approves the work, a {OFFICER} releases it. If the buyer does "
    "not answer, ask an officer in this ticket.",
    (Action.REFUND, Role.BUYER): f"If something is wrong, click **Open dispute** and explain: a {OFFICER} decides.",
    (Action.REFUND, Role.FREELANCER): f"If you want to give the payment back, say so in this ticket: a {OFFICER} "
    "refunds it.",
    (Action.DELIVER, Role.BUYER): "Ask the freelancer to mark the work delivered once they have sent it.",
    (Action.DELIVER, Role.OFFICER): "Ask the freelancer to mark the work delivered once they have sent it.",
    (Action.APPROVE, Role.FREELANCER): "Wait for the buyer to check the work; the summary shows when they approve it.",
    (Action.APPROVE, Role.OFFICER): "Ask the buyer to check the work and approve it. If they cannot, you can release "
    "the payment with a written reason.",
    (Action.DISPUTE, Role.OFFICER): "If one of them says something is wrong, ask them to click **Open dispute**; "
    "you then decide it.",
}


def not_allowed(rule: Rule, role: Role, order_id: str) -> PermissionDeniedError:
    """The person's role on the order may not do `rule`'s action."""
    words = ACTION_WORDS.get(rule.action.value, rule.label.lower())
    if role is Role.OUTSIDER:
        return PermissionDeniedError(
            f"You are not part of order {order_id}: only its freelancer, its buyer and {OFFICERS} can {words}. "
            "If you think you should be, ask a Guarantor Officer in this server."
        )
    if rule.roles == {Role.OFFICER}:
        who = f"a {OFFICER}"
    elif Role.OFFICER in rule.roles:
        who = f"a {OFFICER} (or the marketplace)"
    else:
        who = " or the ".join(r.value for r in sorted(rule.roles - {Role.MARKETPLACE}))
        who = f"the {who}"
    if rule.action in (Action.CLAIM, Action.TAKE_OVER):
        instead = "You don't need to do anything for it."
    else:
        instead = _INSTEAD.get((rule.action, role), _LOOK)
    return PermissionDeniedError(f"Only {who} can {words}. {instead}")


def not_this_party(role: Role, rule: Rule, order_id: str) -> PermissionDeniedError:
    """Someone acting as a party who is not the one the ticket records."""
    words = ACTION_WORDS.get(rule.action.value, rule.label.lower())
    return PermissionDeniedError(
        f"Only the {role.value} of order {order_id} can {words}, and the ticket records another account as its "
        f"{role.value}. If that is wrong, ask a {OFFICER} in this ticket."
    )


def party_as_officer(order_id: str) -> PermissionDeniedError:
    return SeparationOfDutiesError(
        f"You are a party to order {order_id}, so you cannot act on it as a {OFFICER}. "
        "Ask another officer to handle this ticket."
    )


def buyer_not_joined(order_id: str) -> GuaranteeError:
    return BuyerNotJoinedError(
        f"The buyer has not joined this ticket yet. You can confirm their payment once they have joined with "
        f"{join_command(order_id)}: until then nobody can tell that the officer confirming it is not the buyer. "
        "Ask the freelancer to send them the command."
    )


def claim_refused(order_id: str, action: Action, actor: str, claimed_by: int | None) -> GuaranteeError | None:
    """Why a claim or take-over does not apply now (None: it does)."""
    if claimed_by is not None and str(claimed_by) == actor:
        return AlreadyDoneError(f"You have already claimed order {order_id}: this ticket is yours. {_LOOK}")
    if action is Action.CLAIM and claimed_by is not None:
        return ConflictError(
            f"<@{claimed_by}> already claimed this ticket. To take it over, click **Take over**: they will be told."
        )
    if action is Action.TAKE_OVER and claimed_by is None:
        return ConflictError("Nobody has claimed this ticket yet: click **Claim** to take it.")
    return None


def stale(order_id: str, state: State) -> ConflictError:
    """A question, form or button opened on an older state of the order."""
    return ConflictError(
        f"Nothing was done: order {order_id} changed since you looked (it is now {state.label}). {_LOOK} "
        "Then try again if it still applies."
    )


def terms_changed(order_id: str) -> ConflictError:
    """A question, form or button opened before the marketplace changed the order's terms."""
    return ConflictError(
        f"Nothing was done: the order's terms changed since you opened this (order {order_id}). Look at the "
        "ticket's summary (the pinned message) for the new terms, then try again if it still applies."
    )


def too_late(order_id: str, state: State, action: Action) -> GuaranteeError:
    """Why `action` cannot apply to an order in `state` (no rule for it)."""
    if state in targets_of(action) and state.terminal:
        return AlreadyDoneError(f"Already done: order {order_id} is already {state.label}. Nothing more to do here.")
    if state.terminal:
        return InvalidTransitionError(
            f"Order {order_id} is {state.label}; that is final. Nothing more can be done with these buttons: if "
            f"something is still wrong, ask a {OFFICER} in this ticket."
        )
    return InvalidTransitionError(f"Order {order_id} is {state.label} now, so that is not possible. {_LOOK}")
