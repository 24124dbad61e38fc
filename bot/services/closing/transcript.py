"""A ticket's transcript as plain data: the header (terms, parties, officer, audit trail) and the messages.

The Discord side (`cogs.closing._history`) turns each `discord.Message` into a `Message`; the
header comes from the database (`closing.header`). Everything here is immutable; saving returns
a new `Transcript` whose attachments say where they were saved, or why not.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Person:
    """Someone in the header: a Discord id and the name Discord showed (email already masked)."""

    discord_id: int
    name: str
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Terms:
    amount: Decimal
    currency: str
    delivery_due: datetime
    deliverables: str  # emails masked


@dataclass(frozen=True, slots=True)
class AuditLine:
    """One audit entry: who (a Discord id, `marketplace` or `retention`) moved the escrow from what to what."""

    seq: int
    at: datetime
    action: str
    actor: str
    role: str
    from_state: str
    to_state: str
    note: str | None = None  # emails masked
    note_purged: bool = False  # retention removed the text (its digest stays in the chain)


@dataclass(frozen=True, slots=True)
class Header:
    order_id: str
    guild_id: int
    channel_id: int | None
    terms: Terms
    escrow_state: str
    freelancer: Person
    buyer: Person | None
    officer: Person | None  # who claimed the ticket
    audit: tuple[AuditLine, ...]
    generated_at: datetime

    @property
    def people(self) -> tuple[Person, ...]:
        return tuple(p for p in (self.freelancer, self.buyer, self.officer) if p is not None)

    def named(self, names: Mapping[int, str]) -> Header:
        """The same header with the people in `names` (by Discord id) shown under those names."""

        def rename(person: Person | None) -> Person | None:
            if person is None or person.discord_id not in names:
                return person
            return dataclasses.replace(person, name=names[person.discord_id])

        freelancer = rename(self.freelancer)
        assert freelancer is not None
        return dataclasses.replace(self, freelancer=freelancer, buyer=rename(self.buyer), officer=rename(self.officer))


@dataclass(frozen=True, slots=True)
class EmbedField:
    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True, slots=True)
class Embed:
    title: str | None = None
    description: str | None = None
    fields: tuple[EmbedField, ...] = ()
    footer: str | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file posted in the channel; after saving, `saved_as` (relative to the transcript) or `not_saved`."""

    id: int
    filename: str
    size: int
    content_type: str | None
    url: str
    saved_as: str | None = None
    not_saved: str | None = None


@dataclass(frozen=True, slots=True)
class Mentions:
    """The names Discord resolved for the message's `<@id>`, `<@&id>` and `<#id>` mentions."""

    users: Mapping[int, str] = field(default_factory=dict)
    roles: Mapping[int, str] = field(default_factory=dict)
    channels: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    author_id: int
    author_name: str
    is_bot: bool
    created_at: datetime
    content: str
    edited_at: datetime | None = None
    embeds: tuple[Embed, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    mentions: Mentions = field(default_factory=Mentions)


@dataclass(frozen=True, slots=True)
class Transcript:
    header: Header
    messages: tuple[Message, ...]

    def names(self) -> dict[int, str]:
        """Every user name the transcript knows, by Discord id (for audit actors and unresolved mentions)."""
        names = {person.discord_id: person.name for person in self.header.people}
        for message in self.messages:
            names.setdefault(message.author_id, message.author_name)
            for user_id, name in message.mentions.users.items():
                names.setdefault(user_id, name)
        return names

    def attachments(self) -> Iterable[Attachment]:
        return (attachment for message in self.messages for attachment in message.attachments)

    def with_attachments(self, done: Mapping[int, Attachment]) -> Transcript:
        """The same transcript with the attachments in `done` (by id) replaced."""
        messages = tuple(
            dataclasses.replace(m, attachments=tuple(done.get(a.id, a) for a in m.attachments))
            if any(a.id in done for a in m.attachments)
            else m
            for m in self.messages
        )
        return dataclasses.replace(self, messages=messages)
