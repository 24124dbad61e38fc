"""Direct messages that cannot be mistaken for the scams the safety notice warns about: each says which
server it comes from, that it is an automatic notice, that the bot never asks for money in DMs, and
links to the ticket it is about (a link Discord resolves, not a name anyone could type)."""

from __future__ import annotations

from bot.services.vocabulary import AUTOMATIC, BOT, NEVER_ASK_IN_DMS


def ticket_link(guild_id: int, channel_id: int) -> str:
    return f"https://discord.com/channels/{guild_id}/{channel_id}"


def dm_text(server: str | None, body: str, *, link: str | None = None) -> str:
    """A DM: where it comes from and what it never asks for, then `body`, then the ticket's link."""
    where = f" in **{server}**" if server else ""
    lines = [f"🔔 **{AUTOMATIC}** from {BOT}{where}. {NEVER_ASK_IN_DMS}", body]
    if link:
        lines.append(f"Ticket: {link}")
    return "\n".join(lines)


def fallback_text(user_id: int, body: str, *, ticket_channel_id: int | None = None) -> str:
    """The same news as a mention where the person can read it, when their DMs are closed (`ticket_channel_id`:
    the ticket, mentioned so that it is a link for whoever may see it)."""
    where = f" Ticket: <#{ticket_channel_id}>" if ticket_channel_id else ""
    return f"<@{user_id}> I could not DM you, so here it is: {body}{where}"
