"""The domain: plain async Python that never imports discord or aiohttp."""
