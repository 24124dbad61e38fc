"""The transcript page: every field escaped, nothing active, only http(s) links, names for mentions."""

from __future__ import annotations

import dataclasses
import html as html_lib
from datetime import timedelta
from decimal import Decimal

import pytest

from bot.services.closing.render import human_size, render_html, render_text
from bot.services.closing.transcript import (
    Attachment,
    AuditLine,
    Embed,
    EmbedField,
    Mentions,
    Person,
    Terms,
)
from tests.services.closing.support import (
    BOT,
    BUYER,
    CHANNEL,
    FREELANCER,
    HOSTILE,
    OFFICER,
    ROLE,
    T0,
    active_markup,
    header,
    hrefs,
    message,
    status_line,
    transcript,
)


def tag(field: str) -> str:
    """A payload naming its field: if it is ever unescaped, the page holds a `<x-field>` element."""
    return f'<x-{field} onclick="x">&amp;'


def every_field_tagged():
    h = header(
        terms=Terms(Decimal("150.00"), tag("currency"), T0, tag("deliverables")),
        escrow_state=tag("escrow"),
        freelancer=Person(FREELANCER, tag("freelancer"), tag("freelancer-email")),
        buyer=Person(BUYER, tag("buyer"), tag("buyer-email")),
        officer=Person(OFFICER, tag("officer")),
        audit=(AuditLine(1, T0, tag("action"), tag("actor"), tag("role"), tag("from"), tag("to"), tag("note")),),
    )
    rich = message(
        f"{tag('content')} <@{BUYER}> <@&{ROLE}> <#{CHANNEL}>",
        name=tag("author"),
        mentions=Mentions(
            users={BUYER: tag("mentioned-user")},
            roles={ROLE: tag("role-name")},
            channels={CHANNEL: tag("channel-name")},
        ),
        embeds=(
            Embed(
                title=tag("embed-title"),
                description=tag("embed-description"),
                fields=(EmbedField(tag("field-name"), tag("field-value")),),
                footer=tag("embed-footer"),
            ),
        ),
        attachments=(
            Attachment(1, tag("saved-filename"), 9, tag("content-type"), "https://cdn.invalid/a", saved_as=tag("path")),
            Attachment(2, tag("skipped-filename"), 10, None, "https://cdn.invalid/b", not_saved=tag("reason")),
        ),
    )
    return dataclasses.replace(transcript(rich), header=h)


FIELDS = [
    "currency", "deliverables", "escrow", "freelancer", "freelancer-email", "buyer", "buyer-email", "officer",
    "action", "actor", "role", "from", "to", "note", "content", "author", "mentioned-user", "role-name",
    "channel-name", "embed-title", "embed-description", "field-name", "field-value", "embed-footer",
    "saved-filename", "content-type", "path", "skipped-filename", "reason",
]  # fmt: skip


def test_every_field_is_shown_escaped_and_none_becomes_markup() -> None:
    page = render_html(every_field_tagged())
    for field in FIELDS:
        assert f"x-{field}" in page, f"{field} is not shown"
        assert f"<x-{field}" not in page, f"{field} is not escaped"
    assert active_markup(page) == []


def test_every_field_is_in_the_text_twin_as_typed() -> None:
    text = render_text(every_field_tagged())
    for field in FIELDS:
        if field not in {"escrow"}:  # the state is shown with spaces for underscores
            assert tag(field) in text, field


@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_content_produces_no_active_markup(payload: str) -> None:
    page = render_html(transcript(message(payload)))
    assert active_markup(page) == []
    assert hrefs(page) == []
    assert payload in html_lib.unescape(page)  # still readable, as text


def test_hostile_names_embeds_and_files_produce_no_active_markup() -> None:
    hostile_embed = Embed(
        title="<script>alert(1)</script>",
        description="[x](javascript:alert(1))",
        fields=(EmbedField("<img src=x onerror=alert(1)>", "<b onmouseover=alert(1)>bold</b>"),),
        footer='"><script>alert(1)</script>',
    )
    page = render_html(
        transcript(
            message("hi", name="<img src=x onerror=alert(1)>", embeds=(hostile_embed,)),
            message(
                "file",
                attachments=(Attachment(5, "<svg onload=alert(1)>.svg", 3, "text/html", "https://cdn.invalid/x"),),
            ),
            freelancer=Person(FREELANCER, "</td><script>alert(1)</script>", "a***@b***.com"),
        )
    )
    assert active_markup(page) == []
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


@pytest.mark.parametrize(
    "content, links",
    [
        ("[docs](https://example.com/d)", ["https://example.com/d"]),
        ("see http://example.com/a?b=1&c=2.", ["http://example.com/a?b=1&c=2"]),
        ("HTTPS://EXAMPLE.COM/X", ["HTTPS://EXAMPLE.COM/X"]),
        ("<https://example.com/quiet>", ["https://example.com/quiet"]),
        ("[wiki](https://en.wikipedia.org/wiki/Foo_(bar))", ["https://en.wikipedia.org/wiki/Foo_(bar)"]),
        ('https://example.com/"onmouseover="alert(1)', ['https://example.com/"onmouseover="alert(1']),
        ("[x](javascript:alert(1))", []),
        ("[x](JaVaScRiPt:alert(1))", []),
        ("[x]( javascript:alert(1) )", []),
        ("javascript:alert(1)", []),
        ("[x](data:text/html;base64,PHNjcmlwdD4=)", []),
        ("data:text/html,<script>alert(1)</script>", []),
        ("[x](vbscript:msgbox(1))", []),
        ("[x](file:///etc/passwd)", []),
        ("[x](ftp://example.com/f)", []),
        ("[x](//evil.example/p)", []),
        ("[x](https:evil)", []),
        ("[x](/relative/path)", []),
        ("`https://example.com/in-code`", []),
        ("```\n[x](https://example.com/in-block)\n```", []),
    ],
)
def test_only_http_links_are_clickable(content: str, links: list[str]) -> None:
    page = render_html(transcript(message(content)))
    assert hrefs(page) == links
    assert active_markup(page) == []


def test_a_masked_link_shows_where_it_really_goes_and_a_refused_one_stays_readable() -> None:
    page = render_html(transcript(message("[your bank](https://evil.example/login) or [x](javascript:alert(1))")))
    assert '>your bank</a> <span class="href">(https://evil.example/login)</span>' in page
    assert "[x](javascript:alert(1))" in page


def test_mentions_show_names() -> None:
    content = f"<@{BUYER}> <@!{OFFICER}> <@&{ROLE}> <#{CHANNEL}> <@{FREELANCER}> <@42> <@&43> <#44>"
    users, roles, channels = {BUYER: "Bob", OFFICER: "Olga"}, {ROLE: "Guarantor Officer"}, {CHANNEL: "ticket-ord_42"}
    resolved = Mentions(users=users, roles=roles, channels=channels)
    t = transcript(message(content, mentions=resolved))
    page, text = render_html(t), render_text(t)
    for name in ("@Bob", "@Olga", "@Guarantor Officer", "#ticket-ord_42", "@Jane Freelancer"):
        assert name in page and name in text  # Jane: known from the header though not resolved by Discord
    for unknown in ("@unknown user 42", "@unknown role 43", "#unknown channel 44"):
        assert unknown in page and unknown in text
    assert "&lt;@" not in page and "<@" not in text and "<#" not in text


def test_bot_status_lines_embeds_and_edits_are_readable() -> None:
    edited = message("fixed typo", edited_at=T0 + timedelta(hours=3))
    t = transcript(status_line(), edited)
    page, text = render_html(t), render_text(t)
    assert '<article class="msg bot"' in page and '<span class="badge">BOT</span>' in page
    assert "<strong>Funded</strong> by <span" in page and "<code>PAY-1</code>" in page
    assert '<div class="name">Amount</div><div class="value">150.00 USD</div>' in page
    assert "Officers never DM first" in page
    assert "edited 2026-11-30 15:00:00 UTC" in page and "(edited 2026-11-30 15:00:00 UTC)" in text
    assert f"Guarantor [BOT] ({BOT})" in text and "Amount: 150.00 USD" in text


def test_both_pages_are_headed_by_terms_parties_officer_and_audit_trail() -> None:
    purged = AuditLine(4, T0, "refund", str(OFFICER), "officer", "funded", "refunded", None, note_purged=True)
    t = transcript(audit=(*header().audit, purged))
    page, text = render_html(t), render_text(t)
    for expected in (
        "ord_42", "150.00 USD", "2026-12-07 12:00:00 UTC", "Logo in SVG", "Jane Freelancer", "j***@e***.com",
        "Bob Buyer", "Olga Officer", "awaiting_funding", "ref PAY-1", "marketplace", "note purged",
    ):  # fmt: skip
        assert expected in page and expected in text, expected
    assert page.index("Audit trail") < page.index("Messages") and text.index("AUDIT TRAIL") < text.index("MESSAGES")
    assert "Olga Officer (333)" in page  # an audit actor's id shown with the name


def test_the_page_is_self_contained() -> None:
    page = render_html(transcript(message("![img](https://example.com/x.png) <img src=https://example.com/y.png>")))
    assert "<script" not in page and "<link" not in page and "<img" not in page and "<iframe" not in page
    assert "src=" not in page.replace("&lt;img src=", "")
    assert "default-src 'none'" in page
    assert "@import" not in page and "url(" not in page


def test_attachments_are_listed_not_linked() -> None:
    files = (
        Attachment(1, "report.pdf", 2_500_000, "application/pdf", "https://cdn.invalid/1", saved_as="attachments/1-x"),
        Attachment(2, "huge.mov", 27_262_976, "video/quicktime", "https://cdn.invalid/2", not_saved="too large"),
    )
    t = transcript(message("files", attachments=files))
    page, text = render_html(t), render_text(t)
    assert hrefs(page) == []
    assert "report.pdf" in page and "attachments/1-x" in page and "not downloaded: too large" in page
    assert "huge.mov (26.0 MB, video/quicktime): not downloaded: too large" in text


def test_human_size() -> None:
    assert [human_size(n) for n in (0, 1023, 1024, 26 * 1024 * 1024, 3 * 1024**4)] == [
        "0 bytes", "1023 bytes", "1.0 KB", "26.0 MB", "3072.0 GB",
    ]  # fmt: skip


def test_an_empty_channel_still_makes_a_transcript() -> None:
    t = dataclasses.replace(transcript(), messages=())
    assert "held no messages" in render_html(t) and "held no messages" in render_text(t)
