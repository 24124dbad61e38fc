"""The escrow state machine (PRODUCT.md §4), driven by officers, parties and the marketplace.

Every action is one transaction: read the escrow, check it against `escrow_rules.RULES`,
compare-and-set the version, append the audit entry, queue the callback. Losing the
compare-and-set means someone else acted first: the caller gets a clear domain error.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Escrow
from bot.db.repos import escrow as escrow_repo
from bot.db.repos import orders as order_repo
from bot.db.types import utcnow
from bot.services.errors import ConflictError, GuaranteeError, NotFoundError, PermissionDeniedError
from bot.services.escrow import audit, callbacks
from bot.services.escrow.rules import Action, Note, Role, Rule, State, rule_for, targets_of

log = logging.getLogger(__name__)

MARKETPLACE = "marketplace"
MAX_NOTE = 1000
CAS_ATTEMPTS = 3


class AlreadyDoneError(ConflictError):
    """Someone already did this (two officers clicked at once, or a replay)."""


class InvalidTransitionError(ConflictError):
    """The action does not apply to the escrow's current state."""


class SeparationOfDutiesError(PermissionDeniedError):
    """An officer who is a party to the order tried to act on it."""


class BuyerNotJoinedError(ConflictError):
    """Funding was confirmed before the buyer joined: nobody could tell whether the officer is the buyer."""


class NoteRequiredError(GuaranteeError):
    """The action needs a written note (payment reference, reason, resolution)."""


@dataclass(frozen=True, slots=True)
class Change:
    """One recorded action: what the adapters announce and the callbacks report."""

    order_id: str
    action: Action
    actor: str
    role: Role
    source: State
    target: State
    version: int
    note: str | None
    source_event_id: str | None
    audit_seq: int

    @property
    def state_changed(self) -> bool:
        return self.source is not self.target


Listener = Callable[[Change], Awaitable[None]]


def _clean_note(note: str | None) -> str | None:
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise NoteRequiredError(f"That note is too long ({len(note)} characters); keep it under {MAX_NOTE}.")
    return note or None


def _describe(state: State) -> str:
    return state.value.replace("_", " ")


class EscrowService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, callbacks_enabled: bool = False) -> None:
        self._sessions = sessions
        self._callbacks_enabled = callbacks_enabled
        self._listeners: list[Listener] = []

    def add_listener(self, listener: Listener) -> None:
        """Called with every committed `Change` (Discord announcements, waking the callback worker)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    async def notify(self, changes: list[Change]) -> None:
        for change in changes:
            for listener in list(self._listeners):
                try:
                    await listener(change)
                except Exception:
                    log.exception("escrow listener failed for %s on order %s", change.action, change.order_id)

    async def get(self, order_id: str) -> Escrow:
        async with self._sessions() as session:
            escrow = await escrow_repo.get(session=session, order_id=order_id)
        if escrow is None:
            raise NotFoundError(f"There is no escrow for order {order_id}.")
        return escrow

    async def preview(self, order_id: str, action: Action, *, actor_id: int, actor_role: Role) -> Note | None:
        """Would this person's action be accepted now? Raises the reason if not; returns the note it needs.

        Adapters ask before showing a form, so nobody types a reason for a button they may not use.
        """
        async with self._sessions() as session:
            escrow = await escrow_repo.get(session=session, order_id=order_id)
            if escrow is None:
                raise NotFoundError(f"There is no order {order_id} in escrow.")
            rule = self._rule(escrow, State(escrow.state), action, None)
            await self._check_actor(session, escrow, rule, str(actor_id), actor_role)
            return rule.note_required(approved=await self._approved(session, escrow))

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
        """A person's action, in its own transaction; listeners hear of it after the commit."""
        if actor_role is Role.MARKETPLACE:
            raise PermissionDeniedError("Only the marketplace itself can act as the marketplace.")
        async with self._sessions.begin() as session:
            change = await self.apply_in(
                session,
                order_id,
                action,
                actor=str(actor_id),
                role=actor_role,
                note=note,
                expected_version=expected_version,
            )
        await self.notify([change])
        return change

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
    ) -> Change:
        """Apply `action` inside the caller's transaction (the marketplace hook uses this directly)."""
        note = _clean_note(note)
        for _ in range(CAS_ATTEMPTS):
            won = await self._try(session, order_id, action, actor, role, note, expected_version)
            if won is not None:
                break
            if expected_version is not None:
                expected_version = -1  # the version the caller saw is gone: report what happened
        else:
            raise ConflictError(f"Order {order_id} is changing right now; look at the ticket and try again.")
        escrow, rule = won
        await self._after_claim(session, rule, order_id, actor)
        source = State(escrow.state)
        record = audit.Record(order_id, action, actor, role, source, rule.target, note, source_event_id)
        entry = await audit.append(session=session, record=record)
        version = escrow.version + 1
        change = Change(order_id, action, actor, role, source, rule.target, version, note, source_event_id, entry.seq)
        if change.state_changed and self._callbacks_enabled:
            webhook_id = f"esc_{order_id}_{version}"
            data = _callback_data(change, entry.created_at.isoformat())
            await callbacks.queue(session=session, webhook_id=webhook_id, order_id=order_id, data=data)
        return change

    async def _try(
        self,
        session: AsyncSession,
        order_id: str,
        action: Action,
        actor: str,
        role: Role,
        note: str | None,
        expected_version: int | None,
    ) -> tuple[Escrow, Rule] | None:
        """Check the action against the escrow as it is now and compare-and-set; None if it moved meanwhile."""
        escrow = await self._load(session, order_id)
        rule = self._rule(escrow, State(escrow.state), action, expected_version)
        await self._check_actor(session, escrow, rule, actor, role)
        required = rule.note_required(approved=await self._approved(session, escrow))
        if required is not None and note is None:
            raise NoteRequiredError(f"A written {required.value} is needed to {rule.label.lower()}.")
        values = self._values(rule, actor, note)
        if await escrow_repo.compare_and_set(session=session, order_id=order_id, version=escrow.version, values=values):
            return escrow, rule
        return None

    async def _load(self, session: AsyncSession, order_id: str) -> Escrow:
        escrow = await escrow_repo.get(session=session, order_id=order_id, fresh=True)
        if escrow is None and await order_repo.get(session=session, order_id=order_id) is not None:
            await escrow_repo.create(session=session, order_id=order_id, state=State.AWAITING_FUNDING.value)
            escrow = await escrow_repo.get(session=session, order_id=order_id, fresh=True)
        if escrow is None:
            raise NotFoundError(f"There is no order {order_id} in escrow.")
        return escrow

    def _rule(self, escrow: Escrow, state: State, action: Action, expected_version: int | None) -> Rule:
        rule = rule_for(action, state)
        if rule is None:
            raise _too_late(escrow, state, action)
        if expected_version is not None and expected_version != escrow.version:
            raise ConflictError(
                f"Order {escrow.order_id} changed since you looked (it is {_describe(state)} now). "
                "Look at the ticket and try again."
            )
        if action is Action.APPROVE and escrow.approved_at is not None:
            raise AlreadyDoneError(f"The buyer's approval of order {escrow.order_id} is already recorded.")
        return rule

    async def _check_actor(self, session: AsyncSession, escrow: Escrow, rule: Rule, actor: str, role: Role) -> None:
        if role not in rule.roles:
            who = " or ".join(sorted(r.value for r in rule.roles))
            raise PermissionDeniedError(f"Only the {who} can {rule.label.lower()} on this order.")
        if role is Role.MARKETPLACE:
            if actor != MARKETPLACE:
                raise PermissionDeniedError("Only the marketplace itself can act as the marketplace.")
            return
        ticket = await escrow_repo.ticket(session=session, order_id=escrow.order_id)
        parties = {p for p in (ticket.freelancer_id, ticket.buyer_id) if p is not None} if ticket else set()
        if role is Role.OFFICER and actor.isdigit() and int(actor) in parties:
            raise SeparationOfDutiesError(
                f"You are a party to order {escrow.order_id}, so you cannot act on it as an officer. "
                "Ask another officer."
            )
        if rule.action is Action.FUND and (ticket is None or ticket.buyer_id is None):
            # The buyer is known only once they joined (their email verified); until then the officer
            # confirming the payment could be the buyer. `join` refuses anyone who acted as officer.
            raise BuyerNotJoinedError(
                f"The buyer has not joined the ticket of order {escrow.order_id} yet. Funding can be confirmed "
                "once they have (`/guarantee join`), so that the officer confirming it is known not to be the buyer."
            )
        if role in (Role.FREELANCER, Role.BUYER):
            # Parties are who the ticket says they are; with no ticket (or no buyer joined yet) nobody is.
            expected = (ticket.freelancer_id if role is Role.FREELANCER else ticket.buyer_id) if ticket else None
            if expected is None or str(expected) != actor:
                raise PermissionDeniedError(f"Only the order's {role.value} can {rule.label.lower()}.")
        if rule.action is Action.CLAIM:
            claimed = ticket.claimed_by if ticket is not None else escrow.claimed_by
            if claimed is not None and str(claimed) == actor:
                raise AlreadyDoneError(f"You have already claimed order {escrow.order_id}.")

    async def _approved(self, session: AsyncSession, escrow: Escrow) -> bool:
        if escrow.approved_at is not None:
            return True
        order = await order_repo.get(session=session, order_id=escrow.order_id)
        return order is not None and order.completed_at is not None

    @staticmethod
    def _values(rule: Rule, actor: str, note: str | None) -> dict[str, object]:
        values: dict[str, object] = {"state": rule.target.value}
        if rule.action is Action.FUND:
            values["payment_reference"] = note
        elif rule.action is Action.APPROVE:
            values["approved_by"], values["approved_at"] = actor, utcnow()
        elif rule.action is Action.CLAIM and actor.isdigit():
            values["claimed_by"] = int(actor)
        return values

    @staticmethod
    async def _after_claim(session: AsyncSession, rule: Rule, order_id: str, actor: str) -> None:
        if rule.action is Action.CLAIM and actor.isdigit():
            await escrow_repo.set_ticket_claim(session=session, order_id=order_id, officer_id=int(actor))


def _too_late(escrow: Escrow, state: State, action: Action) -> GuaranteeError:
    """Why `action` cannot apply to the escrow in `state` (no rule for it)."""
    if state in targets_of(action) and state.terminal:
        return AlreadyDoneError(f"Already done: order {escrow.order_id} is already {_describe(state)}.")
    if state.terminal:
        return InvalidTransitionError(f"Order {escrow.order_id} is {_describe(state)}; that is final.")
    return InvalidTransitionError(
        f"Order {escrow.order_id} is {_describe(state)} now, so that is not possible. Look at the ticket and try again."
    )


def _callback_data(change: Change, at: str) -> dict[str, object]:
    return {
        "order_id": change.order_id,
        "from": change.source.value,
        "to": change.target.value,
        "action": change.action.value,
        "actor": change.actor,
        "role": change.role.value,
        "note": change.note,
        "version": change.version,
        "audit_seq": change.audit_seq,
        "source_event_id": change.source_event_id,
        "changed_at": at,
    }
