"""Who acts next on an order, and how, in words: the summary's **Next** block (about people, with
mentions) and the "your turn" line of a DM (to the person). Both come from the same facts, so the
summary, `/guarantee status` and the DMs never disagree."""

from __future__ import annotations

from dataclasses import dataclass

from bot.services.escrow.rules import Action, State, next_steps
from bot.services.vocabulary import OFFICER, join_command


@dataclass(frozen=True, slots=True)
class Standing:
    """Where an order stands: what the next step depends on."""

    order_id: str
    state: State
    approved: bool
    freelancer_id: int | None  # None: the order's seller email changed and nobody proved the new one yet
    buyer_id: int | None
    claimed_by: int | None
    money: str
    buyer_name: str | None = None


def _officer(standing: Standing) -> str:
    if standing.claimed_by is not None:
        return f"the {OFFICER} <@{standing.claimed_by}>"
    return f"a {OFFICER} (nobody has claimed this ticket yet: officers, click **Claim**)"


def next_block(standing: Standing) -> str:
    """The summary's first block: who acts next and how (or that the deal is done)."""
    state = standing.state
    freelancer = f"<@{standing.freelancer_id}>" if standing.freelancer_id else "the freelancer"
    buyer = f"<@{standing.buyer_id}>" if standing.buyer_id else "the buyer"
    officer = _officer(standing)
    if state is State.AWAITING_FUNDING and standing.buyer_id is None:
        named = f" ({standing.buyer_name})" if standing.buyer_name else ""
        return (
            f"**Next:** the buyer{named} runs {join_command(standing.order_id)} in this server with the email of "
            f"their marketplace account ({freelancer}: send them this command). Then {officer} posts payment "
            "instructions here."
        )
    if state is State.AWAITING_FUNDING:
        return (
            f"**Next:** {officer} posts payment instructions here. {buyer} pays only as posted here, never by DM. "
            "Then the officer clicks **Confirm payment received**."
        )
    if state is State.FUNDED:
        return (
            f"**Next:** {freelancer} delivers the work and clicks **Mark delivered**. "
            f"The payment ({standing.money}) stays in escrow until the buyer approves the work."
        )
    if state is State.DELIVERED and not standing.approved:
        return (
            f"**Next:** {buyer} checks the work and clicks **Approve the work** (or **Open dispute** if something "
            f"is wrong). Then a {OFFICER} releases the payment to {freelancer}."
        )
    if state is State.DELIVERED:
        return f"**Next:** {officer} releases the payment ({standing.money}) to {freelancer} with **Release payment**."
    if state is State.DISPUTED:
        return (
            f"**Next:** {freelancer} and {buyer} post their side and any proof here. Then {officer} decides: release "
            f"the payment ({standing.money}) to the freelancer, or refund it to the buyer."
        )
    closer = f"the {OFFICER} <@{standing.claimed_by}>" if standing.claimed_by is not None else f"a {OFFICER}"
    return (
        f"**Done:** {_outcome(standing, freelancer, buyer)} Nothing more to do here: {closer} closes the ticket with "
        "**Close ticket** (its whole history is kept as a transcript)."
    )


def _outcome(standing: Standing, freelancer: str, buyer: str) -> str:
    if standing.state is State.RELEASED:
        return f"{standing.money} was released to {freelancer}."
    if standing.state is State.REFUNDED:
        return f"{standing.money} was refunded to {buyer}."
    return "the order was cancelled; no payment is held in escrow."


def turn_text(action: Action, state: State) -> str:
    """What the person told "your turn" should do now (second person)."""
    if state is State.DISPUTED:
        return (
            "read both sides in the ticket and decide: release the payment to the freelancer "
            "(**Resolve: release to freelancer**) or refund it to the buyer (**Resolve: refund buyer**)."
        )
    return {
        Action.FUND: "post payment instructions in the ticket, then click **Confirm payment received** once the "
        "payment has arrived.",
        Action.DELIVER: "deliver the work, then click **Mark delivered** in the ticket.",
        Action.APPROVE: "check the work. If it is what was agreed, click **Approve the work** in the ticket; if not, "
        "click **Open dispute** and explain.",
        Action.RELEASE: "release the payment to the freelancer with **Release payment** in the ticket.",
    }.get(action, "see the ticket for what to do next.")


def still_their_turn(action: Action, state: State, *, approved: bool) -> bool:
    """Whether a "your turn" written earlier is still true for the order as it is now (`rules.next_steps`)."""
    return any(rule.action is action for rule in next_steps(state, approved=approved))
