from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.escrow._views import controls_for

if TYPE_CHECKING:
    from cogs.client import GuarantorBot

__all__ = ["controls_for", "setup"]  # controls_for: the tickets side attaches it to the summary message


async def setup(bot: GuarantorBot) -> None:
    from cogs.escrow._cog import EscrowCog

    await bot.add_cog(EscrowCog(bot))
