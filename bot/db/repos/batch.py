"""A batch of events' working set: the rows its events read, fetched in a few `IN` queries before the first
event is applied, and the rows they write, sent with one statement per table before the commit.

The event processor opens one (`Batch.open`) for each batch it applies as a whole. The repository functions
the order book, the tickets' step and the escrow's step call find it on the session (`of(session)`) and answer
from it instead of sending a statement each: its copy of a row is the one that changes during the batch, so
each event sees what the events before it did. The rows are locked as they are read (PostgreSQL: `FOR
UPDATE` in key order, orders then escrows then gigs, so two workers never wait on each other in a circle;
SQLite: the claim took the database's one write lock), so nothing else changes them before the commit.

A key the batch did not read is looked up as usual. Any other statement sent through the session (a query
the batch knows nothing of, an ORM flush) first gets the batch's writes so far, so it reads what the events
wrote. Without a batch (one event at a time, a test calling the order book) every function sends its own
statements, as before.

The rows the batch hands out are plain model instances that belong to no session (made without the
models' constructors, which cost more than the whole of an event's work); the batch compares them with the
values it read and writes what changed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Table, bindparam, event, insert, select, text, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, configure_mappers
from sqlmodel import SQLModel, col

from bot.db.core import table_of
from bot.db.models import (
    AuditEntry,
    AuditHead,
    DiscordEffect,
    Escrow,
    GuildConfig,
    Order,
    OrderTerms,
    RequestState,
    Ticket,
    TicketRequest,
)

KEY = "guarantor.event_batch"
# PostgreSQL: a transaction's advisory lock on each key, one after another in the order given.
_LOCK_ALL = text("SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest(CAST(:keys AS text[])) k")
M = TypeVar("M", bound=SQLModel)

ORDERS, TERMS, ESCROWS = table_of(Order), table_of(OrderTerms), table_of(Escrow)
AUDIT, HEAD, EFFECTS = table_of(AuditEntry), table_of(AuditHead), table_of(DiscordEffect)


def of(session: AsyncSession | Session) -> Batch | None:
    """The batch being applied in this session, if any."""
    batch = session.info.get(KEY)
    return batch if isinstance(batch, Batch) else None


def detached(model: type[M], values: dict[str, Any]) -> M:
    """A model instance holding `values`, in no session, made the way a query's row is (no constructor)."""
    manager = sa_inspect(model).class_manager
    if manager[next(iter(values))].impl is None:  # the mappers are configured by the first query; not yet
        configure_mappers()
    instance: M = manager.new_instance()
    instance.__dict__.update(values)
    return instance


def _columns(table: Table) -> list[str]:
    return [column.key for column in table.columns]


class _Rows:
    """The rows of one table the batch holds, by key: each with the values last read or written, so the
    ones that changed are written with one statement per set of changed columns."""

    def __init__(self, model: type[SQLModel], key: str) -> None:
        self.model, self.table, self.key = model, table_of(model), key
        self.names = _columns(self.table)
        self.held: dict[str, Any] = {}  # key -> instance, or None: known not to exist
        self._written: dict[str, dict[str, Any]] = {}  # key -> the values the database has
        self._new: list[str] = []  # keys made in this batch, not inserted yet

    def load(self, rows: Iterable[Any], keys: Iterable[str]) -> None:
        for key in keys:
            self.held.setdefault(key, None)
        for row in rows:
            values = dict(row._mapping)
            self.held[values[self.key]] = detached(self.model, values)
            self._written[values[self.key]] = values

    def add(self, values: dict[str, Any]) -> Any:
        key = values[self.key]
        instance = detached(self.model, values)
        self.held[key] = instance
        self._new.append(key)
        return instance

    def change(self, key: str, values: dict[str, Any]) -> Any:
        """Change a held row as an UPDATE would: the instance handed out before keeps the values it had (as an
        ORM instance does after an UPDATE statement); `held` has the new one."""
        before = self.held[key].__dict__
        instance = detached(self.model, {name: before.get(name) for name in self.names} | values)
        self.held[key] = instance
        return instance

    def write(self, connection: Connection) -> None:
        if self._new:
            rows = [{name: self.held[key].__dict__.get(name) for name in self.names} for key in self._new]
            connection.execute(insert(self.table), rows)
            for key, row in zip(self._new, rows, strict=True):
                self._written[key] = row
            self._new = []
        changed: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for key, before in self._written.items():
            now = self.held[key].__dict__
            names = tuple(name for name in self.names if now.get(name) != before[name])
            if names:
                changed[names].append({"_key": key, **{name: now.get(name) for name in names}})
                before.update({name: now.get(name) for name in names})
        for names, rows in changed.items():
            statement = (
                update(self.table)
                .where(self.table.c[self.key] == bindparam("_key"))
                .values({name: bindparam(name) for name in names})
            )
            connection.execute(statement, rows)


class Batch:
    """The rows a batch of events reads and writes (see the module's docstring)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self.postgres = session.get_bind().dialect.name == "postgresql"
        self.orders = _Rows(Order, "id")
        self.escrows = _Rows(Escrow, "order_id")
        self.tickets: dict[str, Ticket | None] = {}
        self.configs: dict[int, GuildConfig | None] = {}
        self.pending: dict[str, list[TicketRequest]] = {}  # gig key -> its waiting requests, oldest first
        self.terms_seen: set[tuple[str, str]] = set()  # (order id, event id) of the terms recorded
        self.audit_seen: set[tuple[str, str]] = set()  # (order id, source event id) of the audit entries
        self._terms: list[dict[str, Any]] = []
        self._audit: list[dict[str, Any]] = []
        self._effects: list[dict[str, Any]] = []
        self._head: AuditHead | None = None  # the chain head, claimed by the batch's first audit entry
        self._head_written: tuple[int, str] | None = None

    # ---- opening and closing ------------------------------------------------------------------
    @classmethod
    async def open(
        cls, session: AsyncSession, *, order_ids: set[str], event_ids: set[str], gig_keys: set[str], now: datetime
    ) -> Batch:
        """Read (and lock) what the batch's events name: their orders, escrows and tickets, the terms and audit
        entries their ids left already, and the waiting requests of the gigs their terms name."""
        batch = cls(session)
        await batch._read(sorted(order_ids), sorted(event_ids), sorted(gig_keys), now)
        session.info[KEY] = batch
        event.listen(session.sync_session, "before_flush", batch._before_flush)
        event.listen(session.sync_session, "do_orm_execute", batch._before_execute)
        return batch

    def close(self) -> None:
        sync = self._session.sync_session
        event.remove(sync, "before_flush", self._before_flush)
        event.remove(sync, "do_orm_execute", self._before_execute)
        self._session.info.pop(KEY, None)

    async def write(self) -> None:
        """Send what the events wrote so far (the processor calls it before the commit)."""
        connection = await self._session.connection()
        await connection.run_sync(self._write)

    async def _read(self, order_ids: list[str], event_ids: list[str], gig_keys: list[str], now: datetime) -> None:
        session = self._session
        if order_ids and self.postgres:
            # The batch's orders are its own until the commit, also the ones it may make: another worker's batch
            # with events of the same orders waits here, before it holds anything (so no two batches ever wait
            # on each other in a circle, and never on an order the other is making).
            await session.execute(_LOCK_ALL, {"keys": [f"order:{order_id}" for order_id in order_ids]})
        if order_ids:
            orders = select(ORDERS).where(ORDERS.c.id.in_(order_ids)).order_by(ORDERS.c.id)
            escrows = select(ESCROWS).where(ESCROWS.c.order_id.in_(order_ids)).order_by(ESCROWS.c.order_id)
            if self.postgres:
                # NO KEY UPDATE: a change elsewhere that writes a row referring to one of these orders (an escrow
                # action setting its timers) takes a KEY SHARE lock on the order, and must not wait for the batch
                # while the batch waits for that change's escrow.
                orders, escrows = orders.with_for_update(key_share=True), escrows.with_for_update(key_share=True)
            self.orders.load((await session.execute(orders)).all(), order_ids)
            self.escrows.load((await session.execute(escrows)).all(), order_ids)
            tickets = (await session.scalars(select(Ticket).where(col(Ticket.order_id).in_(order_ids)))).all()
            self.tickets = dict.fromkeys(order_ids) | {ticket.order_id: ticket for ticket in tickets}
            guilds = sorted({ticket.guild_id for ticket in tickets})
            if guilds:
                configs = await session.scalars(select(GuildConfig).where(col(GuildConfig.guild_id).in_(guilds)))
                self.configs = dict.fromkeys(guilds) | {config.guild_id: config for config in configs}
        if event_ids and order_ids:
            wanted = set(event_ids)  # an order has a few of each: matched here, not by the database
            terms = select(TERMS.c.order_id, TERMS.c.event_id).where(TERMS.c.order_id.in_(order_ids))
            rows = (await session.execute(terms)).all()
            self.terms_seen = {(row[0], row[1]) for row in rows if row[1] in wanted}
            audit = select(AUDIT.c.order_id, AUDIT.c.source_event_id).where(AUDIT.c.order_id.in_(order_ids))
            rows = (await session.execute(audit)).all()
            self.audit_seen = {(row[0], row[1]) for row in rows if row[1] in wanted}
        if gig_keys:
            if self.postgres:  # the gigs' requests and their agreements take turns (`requests.lock_gig`)
                await session.execute(_LOCK_ALL, {"keys": gig_keys})
            query = (
                select(TicketRequest)
                .where(
                    col(TicketRequest.gig_key).in_(gig_keys),
                    col(TicketRequest.state) == RequestState.PENDING,
                    col(TicketRequest.expires_at) > now,
                )
                .order_by(col(TicketRequest.created_at), col(TicketRequest.id))
            )
            self.pending = {key: [] for key in gig_keys}
            for request in (await session.scalars(query)).all():
                self.pending[request.gig_key].append(request)

    # ---- what the repositories ask --------------------------------------------------------------
    def add_order(self, values: dict[str, Any]) -> Order:
        order: Order = self.orders.add(values)
        self.escrows.held.setdefault(order.id, None)  # a new order has neither an escrow nor a ticket yet
        self.tickets.setdefault(order.id, None)
        return order

    def add_terms(self, values: dict[str, Any]) -> None:
        self._terms.append(values)
        self.terms_seen.add((values["order_id"], values["event_id"]))

    def add_audit(self, values: dict[str, Any]) -> None:
        self._audit.append(values)
        if values.get("source_event_id") is not None:
            self.audit_seen.add((values["order_id"], values["source_event_id"]))

    def add_effects(self, rows: Sequence[dict[str, Any]]) -> None:
        self._effects.extend(rows)

    def claim_head(self, stored: tuple[int, str] | None = None) -> AuditHead | None:
        """The head for the next entry: `seq` one after the batch's last entry, `hash` that entry's (set `hash`
        to the new entry's). None: the batch has not claimed the head yet; claim it (locked until the commit)
        and pass what it holds as `stored`. The head is written once, with the batch's other writes."""
        if stored is not None:
            self._head_written = stored
            self._head = detached(AuditHead, {"id": 1, "seq": stored[0], "hash": stored[1]})
        elif self._head is None:
            return None
        assert self._head is not None
        self._head = detached(AuditHead, {"id": 1, "seq": self._head.seq + 1, "hash": self._head.hash})
        return self._head

    # ---- writing --------------------------------------------------------------------------------
    def _before_flush(self, session: Session, *_args: object) -> None:
        for instance in session.new:  # a ticket made for a waiting request: the batch's events see it
            if isinstance(instance, Ticket):
                self.tickets[instance.order_id] = instance
        self._write(session.connection())

    def _before_execute(self, state: ORMExecuteState) -> None:
        self._write(state.session.connection())

    def _write(self, connection: Connection) -> None:
        self.orders.write(connection)  # first: the rest refers to them
        if self._terms:
            connection.execute(insert(TERMS), self._terms)
            self._terms = []
        self.escrows.write(connection)
        if self._audit:
            connection.execute(insert(AUDIT), self._audit)
            self._audit = []
        if self._head is not None and (self._head.seq, self._head.hash) != self._head_written:
            connection.execute(update(HEAD).where(HEAD.c.id == 1).values(seq=self._head.seq, hash=self._head.hash))
            self._head_written = (self._head.seq, self._head.hash)
        if self._effects:
            dialect = postgresql if self.postgres else sqlite
            connection.execute(dialect.insert(EFFECTS).on_conflict_do_nothing(index_elements=["key"]), self._effects)
            self._effects = []
