"""A transcript as a self-contained HTML page (Jinja2, autoescaped) and as plain text.

The page has inline CSS, no script and no external resource (a Content-Security-Policy of
`default-src 'none'` says so to the browser too). Attachments are listed with where they were
saved beside the page, never linked or shown inline: a saved file is whatever a user uploaded,
and a page that opened it from the same folder would be trusting it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template
from markupsafe import Markup

from bot.services.closing.markup import Names, format_time, to_html, to_text
from bot.services.closing.transcript import AuditLine, Embed, Message, Person, Transcript

TEMPLATES = Path(__file__).with_name("templates")


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


@cache
def _template() -> Template:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template("transcript.html")


def _who(actor: str, names: dict[int, str]) -> str:
    """An audit actor: a Discord id shown with its name when known, or `marketplace`, `retention`."""
    name = names.get(int(actor)) if actor.isdigit() else None
    return f"{name} ({actor})" if name else actor


def render_html(transcript: Transcript) -> str:
    names = transcript.names()

    def md(text: str, message: Message) -> Markup:
        return to_html(text, Names(message.mentions, names))

    return _template().render(
        h=transcript.header,
        messages=transcript.messages,
        md=md,
        when=format_time,
        size=human_size,
        actor=lambda value: _who(value, names),
    )


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines() or [""])


def _person(person: Person | None) -> str:
    if person is None:
        return "none"
    email = f", {person.email}" if person.email else ""
    return f"{person.name} ({person.discord_id}{email})"


def _audit_line(line: AuditLine, names: dict[int, str]) -> str:
    who = _who(line.actor, names)
    moved = f"{line.from_state} -> {line.to_state}"
    text = f"  #{line.seq} {format_time(line.at)} {line.action}: {moved} by {who} ({line.role})"
    if line.note_purged:
        return text + "\n    note purged"
    return text + ("\n" + _indent(line.note, "    ") if line.note else "")


def _header_text(transcript: Transcript) -> list[str]:
    h = transcript.header
    names = transcript.names()
    where = f"server {h.guild_id}" + (f", channel {h.channel_id}" if h.channel_id else "")
    lines = [
        f"Transcript of order {h.order_id}",
        f"Saved {format_time(h.generated_at)}, {where}, {len(transcript.messages)} messages",
        "",
        "TERMS",
        f"  Amount:        {h.terms.amount} {h.terms.currency}",
        f"  Delivery due:  {format_time(h.terms.delivery_due)}",
        "  Deliverables:",
        _indent(h.terms.deliverables, "    "),
        f"  Escrow:        {h.escrow_state.replace('_', ' ')}",
        "",
        "PARTIES",
        f"  Freelancer:    {_person(h.freelancer)}",
        f"  Buyer:         {_person(h.buyer)}",
        f"  Officer:       {_person(h.officer)} (claimed)",
        "",
        "AUDIT TRAIL",
    ]
    lines += [_audit_line(line, names) for line in h.audit] or ["  no audit entries"]
    return [*lines, "", "MESSAGES"]


def _embed_text(embed: Embed, names: Names) -> list[str]:
    lines = ["    [embed]"]
    if embed.title:
        lines.append(_indent(to_text(embed.title, names), "      "))
    if embed.description:
        lines.append(_indent(to_text(embed.description, names), "      "))
    for field in embed.fields:
        lines.append(_indent(f"{to_text(field.name, names)}: {to_text(field.value, names)}", "      "))
    if embed.footer:
        lines.append(_indent(embed.footer, "      "))
    return lines


def _message_text(message: Message, known: dict[int, str]) -> list[str]:
    names = Names(message.mentions, known)
    bot = " [BOT]" if message.is_bot else ""
    edited = f" (edited {format_time(message.edited_at)})" if message.edited_at else ""
    lines = [f"[{format_time(message.created_at)}] {message.author_name}{bot} ({message.author_id}){edited}:"]
    if message.content:
        lines.append(_indent(to_text(message.content, names), "    "))
    for embed in message.embeds:
        lines += _embed_text(embed, names)
    for a in message.attachments:
        kind = f", {a.content_type}" if a.content_type else ""
        where = f"saved as {a.saved_as}" if a.saved_as else f"not downloaded: {a.not_saved or 'not fetched'}"
        lines.append(f"    [attachment] {a.filename} ({human_size(a.size)}{kind}): {where}")
    return lines


def render_text(transcript: Transcript) -> str:
    known = transcript.names()
    lines = _header_text(transcript)
    for message in transcript.messages:
        lines += _message_text(message, known)
    if not transcript.messages:
        lines.append("  The channel held no messages.")
    return "\n".join(lines) + "\n"
