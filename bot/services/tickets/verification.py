"""The checks a ticket request must pass, and how emails are shown where others can read them."""

from __future__ import annotations

import re

from bot.db.models import Order, Ticket
from bot.services.errors import GuaranteeError
from bot.services.tickets.links import GigLink, LinkError, parse_gig_link


class VerificationError(GuaranteeError):
    """A check failed; the text names the check and what to do next."""


class MalformedLinkError(VerificationError):
    def __init__(self) -> None:
        super().__init__(
            "Gig link check failed: that is not a valid link. "
            "Copy the gig link from the order page on the marketplace and paste it whole."
        )


class WrongHostError(VerificationError):
    def __init__(self, host: str, marketplace_host: str) -> None:
        self.host = host
        super().__init__(
            f"Gig link check failed: the link points to {host}, not to {marketplace_host}. "
            f"Use the gig link of the order on {marketplace_host}."
        )


class EmailMismatchError(VerificationError):
    def __init__(self, party: str) -> None:
        self.party = party
        who = "freelancer" if party == "seller" else party  # the marketplace's "seller" is our freelancer
        super().__init__(
            f"Email check failed: that email is not the {who}'s email on this order. "
            f"Use the email registered on your marketplace account (the one the order was agreed with)."
        )


class GigMismatchError(VerificationError):
    def __init__(self) -> None:
        super().__init__(
            "Gig link check failed: the link is not the gig of your agreed order. "
            "Copy the gig link from that order's page. If this is a different order that was just agreed, "
            "wait a minute for the marketplace to confirm it and try again."
        )


def normalise_email(email: str) -> str:
    return email.strip().lower()


def same_email(given: str, expected: str) -> bool:
    return normalise_email(given) == normalise_email(expected)


def _mask_part(part: str) -> str:
    return f"{part[:1]}***" if part else "***"


def mask_email(email: str) -> str:
    """`jane@example.com` → `j***@e***.com`: enough to recognise, not enough to harvest."""
    local, at, domain = normalise_email(email).rpartition("@")
    if not at:
        return _mask_part(domain)
    name, dot, tld = domain.rpartition(".")
    if not dot:
        return f"{_mask_part(local)}@{_mask_part(domain)}"
    return f"{_mask_part(local)}@{_mask_part(name)}.{tld}"


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def mask_emails_in(text: str) -> str:
    """Free text (deliverables, notes) with every email address in it masked."""
    return _EMAIL.sub(lambda match: mask_email(match.group(0)), text)


def check_gig_link(text: str, marketplace_host: str) -> GigLink:
    """Parse the link and require the marketplace host (`www.` accepted); raise which check failed."""
    try:
        link = parse_gig_link(text)
    except LinkError:
        raise MalformedLinkError() from None
    if link.host != marketplace_host.lower().removeprefix("www."):
        raise WrongHostError(link.host, marketplace_host)
    if not link.path:
        raise MalformedLinkError()
    return link


def checks_passed(order: Order, ticket: Ticket | None = None) -> list[str]:
    """What was verified, as shown to the officers: an email proven with a one-time code, or only compared."""
    checks = [
        _email_check("Freelancer", order.seller_email, ticket is not None and ticket.freelancer_proven),
        "Gig link matches the order's gig",
        "Terms agreed on the marketplace",
    ]
    if ticket is not None and ticket.freelancer_unverified:  # the seller email changed: nobody proved the new one
        checks.pop(0)
    if ticket is not None and ticket.buyer_id is not None:
        checks.append(_email_check("Buyer", order.buyer_email, ticket.buyer_proven))
    return checks


def _email_check(party: str, email: str, proven: bool) -> str:
    how = "proven with a one-time code" if proven else "matched, not proven"
    return f"{party}'s email {how} ({mask_email(email)})"
