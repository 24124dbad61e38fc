"""What the escrow's buttons and forms say to the person who clicked: the question before money moves, the
answer once something was done, and the titles of the note forms (each says what the form does)."""

from __future__ import annotations

from bot.services.escrow.results import Change, ConfirmNeeded
from bot.services.escrow.rules import Action, Note
from bot.services.vocabulary import OFFICER

# (title, input label) of each note form, by what it does; both at most 45 characters.
FORMS: dict[tuple[Action, Note], tuple[str, str]] = {
    (Action.FUND, Note.PAYMENT_REFERENCE): ("Confirm payment received", "Payment reference (bank or payment service)"),
    (Action.DISPUTE, Note.REASON): ("Open a dispute", "What is wrong? (shown in the ticket)"),
    (Action.REFUND, Note.REASON): ("Refund the buyer", "Why refund? (shown in the ticket)"),
    (Action.RELEASE, Note.OVERRIDE_REASON): (
        "Release without the buyer's approval",
        "Why release without their approval?",
    ),
    (Action.RELEASE, Note.RESOLUTION): ("Resolve the dispute: release", "Your decision (shown in the ticket)"),
    (Action.REFUND, Note.RESOLUTION): ("Resolve the dispute: refund", "Your decision (shown in the ticket)"),
}


def form_words(action: Action, note: Note) -> tuple[str, str]:
    return FORMS.get((action, note), (note.value.capitalize(), note.value.capitalize()))


def yes_label(asked: ConfirmNeeded) -> str:
    return {
        Action.RELEASE: f"Yes, release {asked.money}",
        Action.REFUND: f"Yes, refund {asked.money}",
        Action.CANCEL: "Yes, cancel the order",
        Action.TAKE_OVER: "Yes, take it over",
    }.get(asked.action, "Yes")


def question(asked: ConfirmNeeded) -> str:
    """Are you sure? Naming the amount and who gets it, and that it cannot be undone."""
    order, money = asked.order_id, f"**{asked.money}**"
    freelancer = f"<@{asked.freelancer_id}> (the freelancer)" if asked.freelancer_id else "the freelancer"
    buyer = f"<@{asked.buyer_id}> (the buyer)" if asked.buyer_id else "the buyer (not joined yet)"
    then = f" Next you write the {asked.note.value}." if asked.note is not None else ""
    if asked.action is Action.RELEASE:
        return f"Release {money} to {freelancer} for order {order}? This cannot be undone.{then}"
    if asked.action is Action.REFUND:
        return f"Refund {money} to {buyer} for order {order}? This cannot be undone.{then}"
    if asked.action is Action.CANCEL:
        return f"Cancel order {order} ({money}) between {freelancer} and {buyer}? Both are told; this cannot be undone."
    holder = f"<@{asked.claimed_by}>" if asked.claimed_by else "the officer who claimed it"
    return f"Take over the ticket of order {order} ({money}) from {holder}? They will be told."


def done(change: Change) -> str:
    """The acting person's answer: what happened, and what comes next."""
    order, money = change.order_id, change.money
    texts = {
        Action.CLAIM: f"You claimed order {order}. The ticket's summary says what comes next.",
        Action.TAKE_OVER: f"You took over order {order}"
        + (f" from <@{change.replaced}>; they are told." if change.replaced else "."),
        Action.APPROVE: f"Your approval of order {order} is recorded. A {OFFICER} now releases the payment to "
        "the freelancer.",
        Action.FUND: f"Done: the buyer's payment for order {order} ({money}) is recorded as held in escrow. "
        "Next: the freelancer delivers the work; they are told.",
        Action.CANCEL: f"Done: order {order} is cancelled. Both parties are told.",
        Action.DELIVER: f"Done: order {order} is marked delivered. Next: the buyer checks the work; they are told.",
        Action.RELEASE: f"Done: {money} is released to the freelancer for order {order}. Both parties are told.",
        Action.REFUND: f"Done: {money} is refunded to the buyer for order {order}. Both parties are told.",
        Action.DISPUTE: f"Done: the dispute on order {order} is open and a {OFFICER} has been called. "
        "Post your side and any proof in the ticket.",
    }  # fmt: skip
    return texts.get(change.action, f"Done: order {order} is now {change.target.label}.")
