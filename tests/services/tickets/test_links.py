"""Gig links: scheme, host case, `www.`, trailing slash, query and fragment do not matter; the path does."""

from __future__ import annotations

import pytest

from bot.services.tickets.links import LinkError, gig_key, parse_gig_link

SAME = [
    "https://opentaskai.com/gigs/42-logo",
    "http://opentaskai.com/gigs/42-logo",
    "https://www.opentaskai.com/gigs/42-logo",
    "HTTPS://WWW.OpenTaskAI.COM/gigs/42-logo/",
    "https://opentaskai.com/gigs/42-logo///",
    "https://opentaskai.com/gigs/42-logo?ref=chat&utm_source=x",
    "https://opentaskai.com/gigs/42-logo#terms",
    "opentaskai.com/gigs/42-logo",
    "  https://opentaskai.com/gigs/42-logo  ",
    "https://opentaskai.com/gigs/42%2Dlogo",
]


@pytest.mark.parametrize("link", SAME)
def test_equivalent_links_share_a_key(link: str) -> None:
    assert gig_key(link) == "opentaskai.com/gigs/42-logo"


@pytest.mark.parametrize(
    "link",
    [
        "https://opentaskai.com/gigs/43-logo",
        "https://opentaskai.com/gigs/42-LOGO",  # the path is case-sensitive
        "https://evil.example/gigs/42-logo",
        "https://opentaskai.com.evil.example/gigs/42-logo",
        "https://opentaskai.com/gigs/42-logo/extra",
    ],
)
def test_different_gigs_differ(link: str) -> None:
    assert gig_key(link) != "opentaskai.com/gigs/42-logo"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "ftp://opentaskai.com/gigs/1",
        "https://",
        "https://open taskai.com/x",
        "https://h:port/x",
        "javascript:alert(1)",
    ],
)
def test_not_links(text: str) -> None:
    with pytest.raises(LinkError):
        parse_gig_link(text)


def test_parts() -> None:
    link = parse_gig_link("https://www.OpenTaskAI.com/gigs/7/")
    assert (link.host, link.path, link.key) == ("opentaskai.com", "/gigs/7", "opentaskai.com/gigs/7")
