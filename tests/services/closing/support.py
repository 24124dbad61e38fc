"""Transcripts to render and save, built by hand (no database, no Discord)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from itertools import count
from typing import Any

from bot.services.closing.transcript import (
    AuditLine,
    Embed,
    EmbedField,
    Header,
    Mentions,
    Message,
    Person,
    Terms,
    Transcript,
)

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
FREELANCER, BUYER, OFFICER, BOT = 111, 222, 333, 999
ROLE, CHANNEL = 4444, 5555
FIRST_ID = 1_000_000
_ids = count(FIRST_ID)

# Each payload, if it ever ran or loaded, would leave a mark a browser test can look for:
# the page's title changed, or an element with id "pwned".
MARK = "pwned"
HOSTILE = (
    f"<script>document.title='{MARK}';document.body.append(Object.assign(document.createElement('b'),{{id:'{MARK}'}}))</script>",
    f"<img src=x onerror=\"document.title='{MARK}'\">",
    f"[click me](javascript:document.title='{MARK}')",
    "[x](javascript:alert(1))",
    "[data](data:text/html;base64,PHNjcmlwdD5kb2N1bWVudC50aXRsZT0ncHduZWQnPC9zY3JpcHQ+)",
    f"<a href=\"javascript:document.title='{MARK}'\">a</a>",
    f"[vb](vbscript:msgbox(1)) <svg onload=\"document.title='{MARK}'\"></svg>",
    f"<iframe src=\"data:text/html,<script>parent.document.title='{MARK}'</script>\"></iframe>",
    f'"><style>body{{display:none}}</style><div id="{MARK}">',
)


def header(**changes: Any) -> Header:
    values: dict[str, Any] = {
        "order_id": "ord_42",
        "guild_id": 7001,
        "channel_id": 7002,
        "terms": Terms(Decimal("150.00"), "USD", T0 + timedelta(days=7), "Logo in SVG, mail j***@e***.com"),
        "escrow_state": "released",
        "freelancer": Person(FREELANCER, "Jane Freelancer", "j***@e***.com"),
        "buyer": Person(BUYER, "Bob Buyer", "b***@e***.com"),
        "officer": Person(OFFICER, "Olga Officer"),
        "audit": (
            AuditLine(1, T0, "fund", str(OFFICER), "officer", "awaiting_funding", "funded", "ref PAY-1"),
            AuditLine(2, T0 + timedelta(hours=1), "deliver", "marketplace", "marketplace", "funded", "delivered"),
            AuditLine(3, T0 + timedelta(hours=2), "release", str(OFFICER), "officer", "delivered", "released"),
        ),
        "generated_at": T0 + timedelta(days=1),
    }
    return Header(**(values | changes))


def message(content: str = "hello", *, author: int = FREELANCER, name: str = "Jane Freelancer", **changes: Any):
    message_id = next(_ids)
    values: dict[str, Any] = {
        "id": message_id,
        "author_id": author,
        "author_name": name,
        "is_bot": author == BOT,
        "created_at": T0 + timedelta(seconds=message_id - FIRST_ID),
        "content": content,
    }
    return Message(**(values | changes))


def status_line() -> Message:
    """A bot status line as the ticket shows one: bold, a mention and an embed."""
    return message(
        f"**Funded** by <@{OFFICER}>: payment reference `PAY-1`",
        author=BOT,
        name="Guarantor",
        mentions=Mentions(users={OFFICER: "Olga Officer"}),
        embeds=(
            Embed(
                title="Order ord_42",
                description="Escrow: **funded**",
                fields=(EmbedField("Amount", "150.00 USD"), EmbedField("Next", f"<@{FREELANCER}> delivers")),
                footer="Officers never DM first",
            ),
        ),
    )


def transcript(*messages: Message, **header_changes: Any) -> Transcript:
    return Transcript(header(**header_changes), tuple(messages) or (message(), status_line()))


ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "p", "table", "tr", "th", "td",
    "article", "header", "time", "div", "span", "ul", "li", "code", "pre", "strong", "em", "u", "s", "a",
    "tbody",  # a browser adds it to every table
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "lang", "charset", "http-equiv", "content", "name", "class", "id", "title", "href", "rel", "colspan",
}  # fmt: skip


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def tags_of(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser.tags


def active_markup(html: str) -> list[str]:
    """Everything in the page that could run, load or hide something: should be empty."""
    problems = []
    tags = tags_of(html)
    if sum(tag == "style" for tag, _ in tags) != 1:
        problems.append("a second <style>")
    for tag, attrs in tags:
        if tag not in ALLOWED_TAGS:
            problems.append(f"<{tag}>")
        for name, value in attrs:
            if name not in ALLOWED_ATTRIBUTES or name.startswith("on"):
                problems.append(f"<{tag} {name}=...>")
            elif name == "href" and not re.match(r"https?://", value or "", re.IGNORECASE):
                problems.append(f"<{tag} href={value!r}>")
            elif name == "id" and not re.fullmatch(r"m[0-9]+", value or ""):
                problems.append(f"<{tag} id={value!r}>")
    return problems


def hrefs(html: str) -> list[str]:
    return [value or "" for tag, attrs in tags_of(html) for name, value in attrs if name == "href"]
