"""Every table, imported here so that `SQLModel.metadata` and Alembic see them all."""

from bot.db.models.effects import DiscordEffect, EffectStatus
from bot.db.models.escrow import AuditEntry, AuditHead, CallbackDelivery, Escrow
from bot.db.models.events import EventStatus, WebhookEvent
from bot.db.models.orders import Order, OrderTerms, Party, TermsFields
from bot.db.models.proofs import EmailCode, ProofFailure
from bot.db.models.tickets import GuildConfig, RequestState, Ticket, TicketRequest, TicketState
from bot.db.models.timers import Timer, TimerOutcome

__all__ = ["EventStatus", "Order", "OrderTerms", "Party", "TermsFields", "WebhookEvent"]
__all__ += ["GuildConfig", "RequestState", "Ticket", "TicketRequest", "TicketState"]
__all__ += ["AuditEntry", "AuditHead", "CallbackDelivery", "Escrow"]
__all__ += ["DiscordEffect", "EffectStatus"]
__all__ += ["EmailCode", "ProofFailure"]
__all__ += ["Timer", "TimerOutcome"]
