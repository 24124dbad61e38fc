"""Guarantor: escrow tickets on Discord for OpenTaskAI marketplace orders."""

from bot.client import GuarantorBot, create_bot

__all__ = ["GuarantorBot", "create_bot"]
