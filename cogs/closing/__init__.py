"""The Discord side of closing a ticket: the **Close ticket** button and its question (`_views`), reading the
channel's history into a transcript (`_history`), downloading its attachments (`_downloads`), and the port the
closing effect works through (`_port`: posting the files, the DMs, deleting or locking the channel).
`/guarantee close` itself is a subcommand of the `/guarantee` group (`cogs.tickets._cog`) and asks the same
question."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cogs.client import GuarantorBot


async def setup(bot: GuarantorBot) -> None:
    from cogs.closing._cog import ClosingCog

    await bot.add_cog(ClosingCog(bot))
