"""Gig links: what makes two links point at the same gig."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote, urlsplit


class LinkError(ValueError):
    """The text is not a usable http(s) link."""


@dataclass(frozen=True, slots=True)
class GigLink:
    host: str  # lower case, without a leading "www."
    path: str  # percent-decoded, without trailing slashes

    @property
    def key(self) -> str:
        return f"{self.host}{self.path}"


def parse_gig_link(text: str) -> GigLink:
    """Normalise a link: scheme, host case, `www.`, trailing slash, query and fragment are ignored."""
    candidate = text.strip()
    if "://" not in candidate:
        candidate = f"https://{candidate}"
    try:
        parts = urlsplit(candidate)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018  (raises ValueError on a malformed port)
    except ValueError as exc:
        raise LinkError(f"not a valid link: {exc}") from None
    if parts.scheme.lower() not in {"http", "https"} or not host or " " in candidate:
        raise LinkError("not a valid http(s) link")
    path = unquote(parts.path).rstrip("/")
    return GigLink(host=host.removeprefix("www."), path=path)


@lru_cache(maxsize=4096)  # the processor asks for the same links again and again (a batch's gigs, then each order's)
def gig_key(url: str) -> str:
    return parse_gig_link(url).key
