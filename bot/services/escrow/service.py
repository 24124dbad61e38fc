"""The escrow state machine (PRODUCT.md §4), driven by officers, parties and the marketplace.

Every action is one transaction: read the escrow and its ticket, decide who the person is on
this order (an officer of the ticket's server, its freelancer, its buyer), check the action
against `rules.RULES`, compare-and-set the version, append the audit entry, queue the
callback. Losing the compare-and-set means someone else acted first: the caller gets a clear
domain error. The result (`Change`) carries everything that is shown afterwards, so nothing
is read back; its effects run once the transaction has committed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import AuditEntry, Escrow, GuildConfig, Order, Ticket
from bot.db.repos import escrow as escrow_repo
from bot.db.repos import orders as order_repo
from bot.db.repos import tickets as ticket_repo
from bot.db.types import utcnow
from bot.services import outbox
from bot.services.errors import ConflictError, NotFoundError, PermissionDeniedError
from bot.services.escrow import announcements, audit, callbacks, refusals
from bot.services.escrow.results import (
    MARKETPLACE,
    AlreadyDoneError,
    Change,
    ConfirmNeeded,
    NoteNeeded,
    NoteRequiredError,
    view_of,
)
from bot.services.escrow.rules import Action, Role, Rule, State, pick_role, rule_for
from bot.services.guilds import Actor, chosen_officer_role, config_of, officer_role_id
from bot.services.outbox import held_until
from bot.services.timers import schedule as timers
from bot.services.timers.schedule import DEFAULT_PERIODS, TimerPeriods
from bot.services.vocabulary import ACTION_WORDS, money

log = logging.getLogger(__name__)

MAX_NOTE = 1000
CAS_ATTEMPTS = 3


class EscrowEffects(Protocol):
    """Told of every committed change (its Discord effects are already in the outbox): wakes the workers."""

    async def escrow_changed(self, changes: Sequence[Change]) -> None: ...


def _clean_note(note: str | None) -> str | None:
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise NoteRequiredError(f"That note is too long ({len(note)} characters); keep it under {MAX_NOTE}.")
    return note or None


class EscrowService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        callbacks_enabled: bool = False,
        effects: EscrowEffects | None = None,
        timer_periods: TimerPeriods = DEFAULT_PERIODS,
    ) -> None:
        self._sessions = sessions
        self._callbacks_enabled = callbacks_enabled
        self._effects = effects
        self._timer_periods = timer_periods  # the reminders a change sets (`bot.services.timers`)

    # ---- people: a button, its question, a form ------------------------------------------------
    async def click(self, order_id: str, action: Action, actor: Actor) -> Change | ConfirmNeeded | NoteNeeded:
        """A button: who the person is on this order and whether the action applies now. An action that moves
        money or ends the deal asks first (`ConfirmNeeded`); one that needs a note answers `NoteNeeded`
        (nothing written either way); any other is done at once."""
        async with self._sessions.begin() as session:
            escrow, ticket, config, role, rule = await self._decide(session, order_id, action, actor, None)
            approved = self._approved(escrow)
            if rule.confirm:
                return await self._question(session, escrow, ticket, rule, approved)
            need = rule.note_required(approved=approved)
            if need is not None:
                return NoteNeeded(order_id, action, need, escrow.version)
            change = await self._apply(
                session, escrow, ticket, config, action, str(actor.user_id), role, None, escrow.version, None,
                held=True,
            )  # fmt: skip
        await self._announce([change])
        return change

    async def confirm(self, order_id: str, action: Action, actor: Actor, *, version: int) -> Change | NoteNeeded:
        """The yes to a question (`ConfirmNeeded`), bound to the escrow `version` it was asked on: an older one is
        refused. Then the form the action needs, or the action itself."""
        async with self._sessions.begin() as session:
            escrow, ticket, config, role, rule = await self._decide(session, order_id, action, actor, version)
            need = rule.note_required(approved=self._approved(escrow))
            if need is not None:
                return NoteNeeded(order_id, action, need, escrow.version)
            change = await self._apply(
                session, escrow, ticket, config, action, str(actor.user_id), role, None, version, None, held=True
            )
        await self._announce([change])
        return change

    async def submit(self, order_id: str, action: Action, actor: Actor, *, note: str, version: int) -> Change:
        """A note form: act only if the escrow is still at the `version` the form was opened on."""
        async with self._sessions.begin() as session:
            escrow, ticket, config = await self._context(session, order_id, actor)
            role = self._role(escrow, ticket, config, action, actor)
            change = await self._apply(
                session, escrow, ticket, config, action, str(actor.user_id), role, note, version, None, held=True
            )
        await self._announce([change])
        return change

    async def _decide(
        self, session: AsyncSession, order_id: str, action: Action, actor: Actor, version: int | None
    ) -> tuple[Escrow, Ticket | None, GuildConfig | None, Role, Rule]:
        """Who the person is on this order, and the rule they act under (or why they may not)."""
        escrow, ticket, config = await self._context(session, order_id, actor)
        role = self._role(escrow, ticket, config, action, actor)
        rule = self._rule(escrow, State(escrow.state), action, version)
        self._check_actor(escrow, ticket, rule, str(actor.user_id), role)
        return escrow, ticket, config, role, rule

    async def _question(
        self, session: AsyncSession, escrow: Escrow, ticket: Ticket | None, rule: Rule, approved: bool
    ) -> ConfirmNeeded:
        order = await order_repo.get(session=session, order_id=escrow.order_id)
        return ConfirmNeeded(
            escrow.order_id, rule.action, escrow.version, _money(order),
            freelancer_id=ticket.freelancer_id if ticket else None, buyer_id=ticket.buyer_id if ticket else None,
            claimed_by=ticket.claimed_by if ticket else None, note=rule.note_required(approved=approved),
        )  # fmt: skip

    async def act(
        self,
        order_id: str,
        action: Action,
        *,
        actor_id: int,
        actor_role: Role,
        note: str | None = None,
        expected_version: int | None = None,
    ) -> Change:
        """Act in a role the caller vouches for (an operator's tool, a test); parties are still checked
        against the ticket, and nobody but the marketplace acts as the marketplace."""
        if actor_role is Role.MARKETPLACE:
            raise PermissionDeniedError("Only the marketplace itself can act as the marketplace.")
        async with self._sessions.begin() as session:
            change = await self.apply_in(
                session, order_id, action, actor=str(actor_id), role=actor_role, note=note,
                expected_version=expected_version, held=True,
            )  # fmt: skip
        await self._announce([change])
        return change

    async def _announce(self, changes: Sequence[Change]) -> None:
        if self._effects is not None:
            await self._effects.escrow_changed(changes)

    # ---- inside a caller's transaction (marketplace events) -----------------------------------
    async def apply_in(
        self,
        session: AsyncSession,
        order_id: str,
        action: Action,
        *,
        actor: str,
        role: Role,
        note: str | None = None,
        expected_version: int | None = None,
        source_event_id: str | None = None,
        held: bool = False,
    ) -> Change:
        """Apply `action` inside the caller's transaction; its effects wait in the outbox for the effect worker
        (`held`: for the caller, who has them done right after the commit)."""
        escrow = await self._load(session, order_id)
        ticket = await ticket_repo.for_order(session=session, order_id=order_id)
        config = await config_of(session, ticket.guild_id) if ticket is not None else None
        return await self._apply(
            session, escrow, ticket, config, action, actor, role, note, expected_version, source_event_id, held=held
        )

    async def _context(
        self, session: AsyncSession, order_id: str, actor: Actor
    ) -> tuple[Escrow, Ticket | None, GuildConfig | None]:
        escrow = await self._load(session, order_id)
        ticket = await ticket_repo.for_order(session=session, order_id=order_id)
        guild_id = ticket.guild_id if ticket is not None else actor.guild_id
        return escrow, ticket, await config_of(session, guild_id)

    @staticmethod
    def _role(escrow: Escrow, ticket: Ticket | None, config: GuildConfig | None, action: Action, actor: Actor) -> Role:
        """Everything this person is on this order (an officer of the ticket's server, one of its parties),
        narrowed to the role the action is done in."""
        held: set[Role] = set()
        if ticket is not None and actor.guild_id == ticket.guild_id:
            officer_role = officer_role_id(chosen_officer_role(config), actor.named_officer_role_id)
            if officer_role is not None and officer_role in actor.role_ids:
                held.add(Role.OFFICER)
            if ticket.freelancer_id == actor.user_id and not ticket.freelancer_unverified:
                held.add(Role.FREELANCER)
            if ticket.buyer_id == actor.user_id:
                held.add(Role.BUYER)
        return pick_role(action, State(escrow.state), held)

    async def _apply(
        self,
        session: AsyncSession,
        escrow: Escrow,
        ticket: Ticket | None,
        config: GuildConfig | None,
        action: Action,
        actor: str,
        role: Role,
        note: str | None,
        expected_version: int | None,
        source_event_id: str | None,
        *,
        held: bool,
    ) -> Change:
        note = _clean_note(note)
        order_id = escrow.order_id
        seen = expected_version  # the version the person's question or form was opened on
        order = await order_repo.get(session=session, order_id=order_id)
        for attempt in range(CAS_ATTEMPTS):
            if attempt:  # lost the compare-and-set: look again at what the winner left (a buyer who joined, too)
                escrow = await self._load(session, order_id)
                ticket = await ticket_repo.for_order(session=session, order_id=order_id, fresh=True)
                if expected_version is not None:
                    expected_version = -1  # the version the caller saw is gone: report what happened
            rule = self._rule(escrow, State(escrow.state), action, expected_version, seen)
            self._check_actor(escrow, ticket, rule, actor, role)
            approved = self._approved(escrow)
            required = rule.note_required(approved=approved)
            if required is not None and note is None:
                words = ACTION_WORDS.get(rule.action.value, rule.label.lower())
                raise NoteRequiredError(f"A written {required.value} is needed to {words}. Write it in the form.")
            values = self._values(rule, actor, note)
            if await escrow_repo.compare_and_set(
                session=session, order_id=order_id, version=escrow.version, values=values
            ):
                break
        else:
            raise ConflictError(f"Order {order_id} is changing right now; look at the ticket and try again.")
        claimed_by = ticket.claimed_by if ticket is not None else None
        replaced = claimed_by if rule.action is Action.TAKE_OVER else None
        if rule.action in (Action.CLAIM, Action.TAKE_OVER) and actor.isdigit():
            claimed_by = int(actor)
            await ticket_repo.set_claim(session=session, order_id=order_id, officer_id=claimed_by)
        source = State(escrow.state)
        record = audit.Record(order_id, action, actor, role, source, rule.target, note, source_event_id)
        entry = await audit.append(session=session, record=record)
        version = escrow.version + 1
        view = view_of(ticket, config, claimed_by)
        change = Change(
            order_id, action, actor, role, source, rule.target, version, note, source_event_id, entry.seq,
            approved=approved or rule.action is Action.APPROVE, ticket=view,
            callback_queued=source is not rule.target and self._callbacks_enabled, money=_money(order),
            replaced=replaced,
        )  # fmt: skip
        if change.callback_queued:
            data = _callback_data(change, entry)
            await callbacks.queue(session=session, webhook_id=f"esc_{order_id}_{version}", order_id=order_id, data=data)
        if change.state_changed:
            await timers.escrow_moved(
                session, order, rule.target, version=version, periods=self._timer_periods, now=utcnow()
            )
        effects = announcements.plan(change, held_until=held_until(utcnow()) if held else None)
        return replace(change, effect_ids=tuple(await outbox.write(session, effects)))

    async def _load(self, session: AsyncSession, order_id: str) -> Escrow:
        escrow = await escrow_repo.get(session=session, order_id=order_id, fresh=True)
        if escrow is None:
            raise NotFoundError(f"I found no order {order_id}. Check the order id on the marketplace's order page.")
        return escrow

    def _rule(
        self, escrow: Escrow, state: State, action: Action, expected_version: int | None, seen: int | None = None
    ) -> Rule:
        """The rule `action` follows now; refused if there is none, or if the escrow is no longer at
        `expected_version` (`seen`: the version the person looked at, to say whether the terms changed since)."""
        rule = rule_for(action, state)
        if rule is None:
            raise refusals.too_late(escrow.order_id, state, action)
        if expected_version is not None and expected_version != escrow.version:
            seen = expected_version if seen is None else seen
            if escrow.terms_changed_version is not None and seen < escrow.terms_changed_version:
                raise refusals.terms_changed(escrow.order_id)
            raise refusals.stale(escrow.order_id, state)
        if action is Action.APPROVE and escrow.approved_at is not None:
            raise AlreadyDoneError(
                f"The buyer's approval of order {escrow.order_id} is already recorded. "
                "A Guarantor Officer releases the payment next: nothing more to do for you."
            )
        return rule

    @staticmethod
    def _check_actor(escrow: Escrow, ticket: Ticket | None, rule: Rule, actor: str, role: Role) -> None:
        order_id = escrow.order_id
        if role not in rule.roles:
            raise refusals.not_allowed(rule, role, order_id)
        if role is Role.MARKETPLACE:
            if actor != MARKETPLACE:
                raise PermissionDeniedError("Only the marketplace itself can act as the marketplace.")
            return
        parties = {p for p in (ticket.freelancer_id, ticket.buyer_id) if p is not None} if ticket else set()
        if role is Role.OFFICER and actor.isdigit() and int(actor) in parties:
            raise refusals.party_as_officer(order_id)
        if rule.action is Action.FUND and (ticket is None or ticket.buyer_id is None):
            # The buyer is known only once they joined (their email verified); until then the officer
            # confirming the payment could be the buyer. `join` refuses anyone who acted as officer.
            raise refusals.buyer_not_joined(order_id)
        if role in (Role.FREELANCER, Role.BUYER):
            # Parties are who the ticket says they are; with no ticket (or no buyer joined yet) nobody is.
            expected = (ticket.freelancer_id if role is Role.FREELANCER else ticket.buyer_id) if ticket else None
            if role is Role.FREELANCER and ticket is not None and ticket.freelancer_unverified:
                expected = None  # the seller email changed: nobody is the freelancer until it is proven again
            if expected is None or str(expected) != actor:
                raise refusals.not_this_party(role, rule, order_id)
        if rule.action in (Action.CLAIM, Action.TAKE_OVER):
            if ticket is None:
                raise ConflictError(f"Order {order_id} has no ticket to claim yet.")
            if (refused := refusals.claim_refused(order_id, rule.action, actor, ticket.claimed_by)) is not None:
                raise refused

    @staticmethod
    def _approved(escrow: Escrow) -> bool:
        """The buyer approved the work: here, or by accepting it on the marketplace after it was delivered (an
        `order.completed` that came earlier is on the order, flagged, and never counts: `MarketplaceEscrow`)."""
        return escrow.approved_at is not None

    @staticmethod
    def _values(rule: Rule, actor: str, note: str | None) -> dict[str, object]:
        values: dict[str, object] = {"state": rule.target.value}
        if rule.action is Action.FUND:
            values["payment_reference"] = note
        elif rule.action is Action.APPROVE:
            values["approved_by"], values["approved_at"] = actor, utcnow()
        return values


def _money(order: Order | None) -> str:
    return money(order.amount, order.currency) if order is not None else ""


def _callback_data(change: Change, entry: AuditEntry) -> dict[str, object]:
    """The `data` of an `escrow.state_changed` callback, field by field as PRODUCT.md §4 has it: where the
    ticket is (the server and channel, as strings like Discord's snowflakes; null while there is none), what
    changed, and the audit entry that records it (the chain's head once it is appended)."""
    ticket = change.ticket
    return {
        "order_id": change.order_id,
        "guild_id": str(ticket.guild_id) if ticket is not None else None,
        "channel_id": str(ticket.channel_id) if ticket is not None and ticket.channel_id is not None else None,
        "action": change.action.value,
        "actor_role": change.role.value,
        "from": change.source.value,
        "to": change.target.value,
        "note": change.note,
        "escrow_version": change.version,
        "audit": {"seq": entry.seq, "hash": entry.hash},
        "at": entry.created_at.isoformat(),
    }
