"""The checks of a ticket request and how emails are masked."""

from __future__ import annotations

import pytest

from bot.services.tickets.verification import (
    MalformedLinkError,
    WrongHostError,
    check_gig_link,
    mask_email,
    mask_emails_in,
    same_email,
)


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("jane@example.com", "j***@e***.com"),
        ("  Jane.Doe@Mail.Example.CO.UK ", "j***@m***.uk"),
        ("x@localhost", "x***@l***"),
        ("not-an-email", "n***"),
    ],
)
def test_mask_email(email: str, masked: str) -> None:
    assert mask_email(email) == masked


def test_emails_inside_free_text_are_masked() -> None:
    text = "send it to jane@example.com or bob+work@corp.io, thanks"
    assert mask_emails_in(text) == "send it to j***@e***.com or b***@c***.io, thanks"


def test_same_email_ignores_case_and_surrounding_space() -> None:
    assert same_email("  JANE@Example.com ", "jane@example.com")
    assert not same_email("jane@example.com", "jane@example.org")


@pytest.mark.parametrize(
    "link",
    [
        "https://opentaskai.com/gigs/42-logo",
        "http://www.OpenTaskAI.com/gigs/42-logo/",
        "opentaskai.com/gigs/42-logo?ref=chat#top",
    ],
)
def test_marketplace_links_normalise_to_one_key(link: str) -> None:
    assert check_gig_link(link, "opentaskai.com").key == "opentaskai.com/gigs/42-logo"


def test_a_link_to_another_host_names_both_hosts() -> None:
    with pytest.raises(WrongHostError, match=r"points to opentaskai\.com\.evil\.io, not to opentaskai\.com"):
        check_gig_link("https://opentaskai.com.evil.io/gigs/42", "opentaskai.com")


@pytest.mark.parametrize(
    "link", ["", "ht!tp://x y", "https://", "ftp://opentaskai.com/gigs/1", "https://opentaskai.com/"]
)
def test_malformed_links_and_links_without_a_gig_are_refused(link: str) -> None:
    with pytest.raises(MalformedLinkError, match="Gig link check failed"):
        check_gig_link(link, "opentaskai.com")
