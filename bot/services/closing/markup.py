"""Discord message text → safe HTML (and → plain text with names for mentions).

The text is cut into tokens (code, masked links, URLs, mentions, timestamps, custom emoji) and
plain runs. Every piece is escaped before anything is wrapped around it; the only tags written
are the fixed ones below, and an `<a href>` only for an `http(s)` address: a masked link to
`javascript:`, `data:` or anything else stays visible as the literal text it was.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from markupsafe import Markup, escape

from bot.services.closing.transcript import Mentions

_TOKEN = re.compile(
    r"""
      (?P<fence>```(?:[a-z0-9_+-]*\n)?(?P<fence_body>.*?)```)
    | (?P<code>`(?P<code_body>[^`]+)`)
    | (?P<link>\[(?P<link_text>[^\[\]\n]{1,256})\]\(\s*<?(?P<link_url>(?:[^\s()<>]|\([^\s()<>]*\))+)>?\s*\))
    | (?P<angle><(?P<angle_url>https?://[^\s<>]+)>)
    | (?P<url>https?://[^\s<>]*[^\s<>.,:;"'!?)\]*_~|])
    | (?P<user><@!?(?P<user_id>[0-9]{1,20})>)
    | (?P<role><@&(?P<role_id>[0-9]{1,20})>)
    | (?P<channel><\#(?P<channel_id>[0-9]{1,20})>)
    | (?P<time><t:(?P<time_value>-?[0-9]{1,12})(?::(?P<time_style>[tTdDfFR]))?>)
    | (?P<emoji><a?:(?P<emoji_name>[A-Za-z0-9_]{1,32}):[0-9]{1,20}>)
    """,
    re.VERBOSE | re.DOTALL | re.IGNORECASE,
)

# Text without any of these is plain: escaping is all it needs.
_SPECIAL = re.compile(r"[<\[`*_~]|https?://", re.IGNORECASE)

# Applied to already-escaped text only: each wraps escaped characters in a fixed tag.
_STYLES = (
    (re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*", re.DOTALL), "strong"),
    (re.compile(r"__(?=\S)(.+?)(?<=\S)__", re.DOTALL), "u"),
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~", re.DOTALL), "s"),
    (re.compile(r"(?<![\w*])\*(?=\S)([^*]+?)(?<=\S)\*(?![\w*])"), "em"),
    (re.compile(r"(?<![\w_])_(?=\S)([^_]+?)(?<=\S)_(?![\w_])"), "em"),
)


def is_web_link(url: str) -> bool:
    """Only `http://` and `https://` addresses with a host become clickable."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in {"http", "https"} and bool(parts.hostname) and url.lower().startswith("http")


def format_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True, slots=True)
class Names:
    """How mentions read: the message's own resolved names first, then names known elsewhere."""

    mentions: Mentions
    known_users: Mapping[int, str]

    def user(self, user_id: int) -> str:
        name = self.mentions.users.get(user_id) or self.known_users.get(user_id)
        return f"@{name}" if name else f"@unknown user {user_id}"

    def role(self, role_id: int) -> str:
        name = self.mentions.roles.get(role_id)
        return f"@{name}" if name else f"@unknown role {role_id}"

    def channel(self, channel_id: int) -> str:
        name = self.mentions.channels.get(channel_id)
        return f"#{name}" if name else f"#unknown channel {channel_id}"


def _timestamp(value: str) -> str:
    try:
        return format_time(datetime.fromtimestamp(int(value), UTC))
    except (OverflowError, OSError, ValueError):
        return f"<t:{value}>"


def _mention(match: re.Match[str], names: Names) -> tuple[str, str] | None:
    """(text, title) for a mention token, or None when the match is not a mention."""
    if match["user"]:
        return names.user(int(match["user_id"])), f"user {match['user_id']}"
    if match["role"]:
        return names.role(int(match["role_id"])), f"role {match['role_id']}"
    if match["channel"]:
        return names.channel(int(match["channel_id"])), f"channel {match['channel_id']}"
    return None


def _styled(text: str) -> Markup:
    html = str(escape(text))
    for pattern, tag in _STYLES:
        html = pattern.sub(rf"<{tag}>\1</{tag}>", html)
    return Markup(html)  # escaped above; only the fixed tags were added


def _anchor(url: str, label: str) -> Markup:
    return Markup(f'<a href="{escape(url)}" rel="noopener noreferrer nofollow">{escape(label)}</a>')


def _link_html(match: re.Match[str]) -> Markup:
    text, url = match["link_text"], match["link_url"]
    if not is_web_link(url):
        return escape(match.group(0))
    anchor = _anchor(url, _styled(text))
    if text.strip() == url:
        return anchor
    return anchor + Markup(f' <span class="href">({escape(url)})</span>')  # where it really goes


def _token_html(match: re.Match[str], names: Names) -> Markup:
    if match["fence"] is not None:
        return Markup(f"<pre><code>{escape(match['fence_body'].strip(chr(10)))}</code></pre>")
    if match["code"] is not None:
        return Markup(f"<code>{escape(match['code_body'])}</code>")
    if match["link"] is not None:
        return _link_html(match)
    if match["angle"] is not None or match["url"] is not None:
        url = match["angle_url"] or match["url"]
        return _anchor(url, url) if is_web_link(url) else escape(match.group(0))
    mention = _mention(match, names)
    if mention is not None:
        return Markup(f'<span class="mention" title="{escape(mention[1])}">{escape(mention[0])}</span>')
    if match["time"] is not None:
        return Markup(f'<time class="stamp">{escape(_timestamp(match["time_value"]))}</time>')
    return Markup(f'<span class="emoji">:{escape(match["emoji_name"])}:</span>')


def _walk(text: str, on_text: Callable[[str], str], on_token: Callable[[re.Match[str]], str]) -> list[str]:
    parts: list[str] = []
    position = 0
    for match in _TOKEN.finditer(text):
        if match.start() > position:
            parts.append(on_text(text[position : match.start()]))
        parts.append(on_token(match))
        position = match.end()
    if position < len(text):
        parts.append(on_text(text[position:]))
    return parts


def to_html(text: str, names: Names) -> Markup:
    """Discord-flavoured text as HTML: escaped, basic styles, names for mentions, http(s) links only."""
    if not _SPECIAL.search(text):
        return escape(text)  # most messages: nothing to style, link or name
    return Markup("").join(_walk(text, _styled, lambda match: _token_html(match, names)))


def _token_text(match: re.Match[str], names: Names) -> str:
    mention = _mention(match, names)
    if mention is not None:
        return mention[0]
    if match["time"] is not None:
        return _timestamp(match["time_value"])
    if match["emoji"] is not None:
        return f":{match['emoji_name']}:"
    return match.group(0)


def to_text(text: str, names: Names) -> str:
    """The same text for the plain-text transcript: mentions and timestamps readable, the rest as typed."""
    return "".join(_walk(text, lambda run: run, lambda match: _token_text(match, names)))
