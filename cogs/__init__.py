"""Discord adapters: each cog package's `__init__` holds only `setup(bot)`."""
