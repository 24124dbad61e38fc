from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.client import GuarantorBot


async def setup(bot: GuarantorBot) -> None:
    from cogs.guarantee._cog import GuaranteeCog

    await bot.add_cog(GuaranteeCog(bot))
