"""The Discord bot: wired from settings, no connection until `start`."""

from __future__ import annotations

def create_bot(settings):  # placeholder while the runtime is written
    raise NotImplementedError

GuarantorBot = object
