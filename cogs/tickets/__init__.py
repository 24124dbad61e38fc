from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cogs.client import GuarantorBot


async def setup(bot: GuarantorBot) -> None:
    from cogs.tickets._cog import GuaranteeCog

    await bot.add_cog(GuaranteeCog(bot))
