"""What a fired timer says (`bot.services.timers`): each text names what to do next, with the button's own
label, and is sent pinging only whom it concerns (the officer role; the freelancer whose delivery is late;
the buyer, by DM)."""

from __future__ import annotations

from bot.services.effects import TicketSnapshot
from bot.services.escrow.rules import Action, State, rule_for
from bot.services.timers.schedule import TimerKind, TimerNotice
from bot.services.vocabulary import OFFICER, OFFICERS, TICKET, full_time, money, relative_time

# Who a timer's message pings: the officer role, the freelancer, or (by DM) the buyer.
PINGS_OFFICERS = frozenset(
    {TimerKind.UNCLAIMED, TimerKind.DELIVERY_OVERDUE, TimerKind.APPROVAL_OVERDUE, TimerKind.DISPUTE_ESCALATION}
)


def _button(action: Action, state: State) -> str:
    rule = rule_for(action, state)
    return f"**{rule.label if rule is not None else action.value}**"


def reminder(notice: TimerNotice, snapshot: TicketSnapshot) -> str:
    """The text of a timer's message (without the role's mention, which the sender adds)."""
    order, ticket = snapshot.order, snapshot.ticket
    since, amount = relative_time(notice.since), money(order.amount, order.currency)
    if notice.kind is TimerKind.UNCLAIMED:
        return (
            f"⏰ This {TICKET} was opened {since} and no {OFFICER} has claimed it yet. {OFFICERS}: press "
            f"{_button(Action.CLAIM, State.AWAITING_FUNDING)} on the summary to take it."
        )
    if notice.kind is TimerKind.DELIVERY_OVERDUE:
        return (
            f"⏰ <@{ticket.freelancer_id}> the delivery date of order {order.id}, {full_time(order.delivery_due)}, "
            f"has passed and the work is not marked delivered. If it is done, press "
            f"{_button(Action.DELIVER, State.FUNDED)} on the summary; if it will be late, tell the buyer here when "
            f"to expect it. {OFFICERS}: please check on this order."
        )
    if notice.kind is TimerKind.APPROVAL_REMINDER:
        return (
            f"**Order {order.id} · {amount}:** the work was delivered {since} and waits for your approval. Check it, "
            f"then press {_button(Action.APPROVE, State.DELIVERED)} on the {TICKET}'s summary; if something is "
            f"wrong, press {_button(Action.DISPUTE, State.DELIVERED)} and say why."
        )
    if notice.kind is TimerKind.APPROVAL_OVERDUE:
        buyer = f" <@{ticket.buyer_id}>" if ticket.buyer_id else ""
        return (
            f"⏰ The work on order {order.id} was delivered {since} and the buyer{buyer} has not approved it, "
            f"even after a reminder. Look at the {TICKET} and check with both parties what is missing."
        )
    where = f" <#{ticket.channel_id}>" if ticket.channel_id else ""
    return (
        f"⏰ The dispute on order {order.id} ({amount}) has waited for a decision since {since}.{where} Decide "
        f"it in the {TICKET}: {_button(Action.RELEASE, State.DISPUTED)} or {_button(Action.REFUND, State.DISPUTED)}, "
        "with a written decision."
    )
