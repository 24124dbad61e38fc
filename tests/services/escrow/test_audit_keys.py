"""The keyed audit chain (PRODUCT.md §7): HMAC-SHA256 under `AUDIT_KEY`, legacy SHA-256 entries still verify,
and `verify` names the entry for each edit made by hand in the database by someone without the key: an edit with
every later hash and the head recomputed, an unkeyed entry after keyed ones, a note removed without a purge, an
escrow moved without an entry, every entry deleted, and a rewrite of the whole chain against an anchor."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.migrate import upgrade
from bot.db.models import AuditEntry, AuditHead, Escrow
from bot.db.repos import audit as audit_repo
from bot.services.escrow import audit
from bot.services.escrow.rules import Action, Role
from tests.conftest import TEST_SECRET
from tests.services.escrow.escrow_support import OFFICER, Sessions, make_world
from tests.services.escrow.test_audit import busy_log

KEY = b"k" * 16 + b"-test-audit-key-32+"
OTHER_KEY = b"o" * 40


@pytest.fixture
def keyed(engine: AsyncEngine) -> Sessions:
    """Sessions of a process started with `AUDIT_KEY` set."""
    return create_sessionmaker(engine, audit_key=KEY)


async def verify(sessions: Sessions, anchor: audit.Anchor | None = None) -> audit.Verification:
    async with sessions() as session:
        return await audit.verify(session=session, anchor=anchor)


async def entries(sessions: Sessions) -> list[AuditEntry]:
    async with sessions() as session:
        return list((await session.scalars(select(AuditEntry).order_by(AuditEntry.seq))).all())  # type: ignore[arg-type]


def plain(entry: AuditEntry) -> str:
    """What someone without the key can compute: SHA-256 of the canonical form."""
    return hashlib.sha256(audit.canonical(entry)).hexdigest()


async def rewrite(
    sessions: Sessions, *, at: int, edit: Callable[[AuditEntry], None], start: int | None = None,
    scheme: str | None = None,
) -> None:  # fmt: skip
    """Edit entry `at` by hand, then, as someone without the key, recompute every hash from `start` (default:
    `at`) to the end with plain SHA-256 (relabelling those entries `scheme` if given) and set the head."""
    async with sessions.begin() as session:
        rows = list((await session.scalars(select(AuditEntry).order_by(AuditEntry.seq))).all())  # type: ignore[arg-type]
        prev = audit.GENESIS
        for row in rows:
            if row.seq == at:
                edit(row)
            if row.seq >= (start or at):
                row.prev_hash = prev
                row.scheme = scheme or row.scheme
                row.hash = plain(row)
            prev = row.hash
        await session.execute(update(AuditHead).values(hash=prev))


def refund_to_release(entry: AuditEntry) -> None:
    entry.action, entry.to_state = "release", "released"


def note_to(text: str) -> Callable[[AuditEntry], None]:
    """An edit of the note and its digest together (nothing but the hash can tell)."""

    def edit(entry: AuditEntry) -> None:
        entry.note, entry.note_sha256 = text, audit.note_digest(text)

    return edit


def set_action(entry: AuditEntry) -> None:
    entry.action = "release"


async def test_with_a_key_every_entry_is_hmac_sha256_of_its_canonical_form(keyed: Sessions) -> None:
    await busy_log(keyed)
    rows = await entries(keyed)
    assert [row.scheme for row in rows] == ["hmac-sha256"] * 7
    for row in rows:
        assert json.loads(audit.canonical(row))["scheme"] == "hmac-sha256"
        assert row.hash == hmac.new(KEY, audit.canonical(row), hashlib.sha256).hexdigest() != plain(row)
    result = await verify(keyed)
    assert (result.ok, result.checked, result.keyed) == (True, 7, 7)
    assert "7 keyed with AUDIT_KEY" in result.describe()


async def test_without_a_key_entries_are_plain_sha256_as_before(sessions: Sessions) -> None:
    await busy_log(sessions)
    rows = await entries(sessions)
    assert {row.scheme for row in rows} == {"sha256"}
    assert all(row.hash == plain(row) and "scheme" not in json.loads(audit.canonical(row)) for row in rows)


async def test_legacy_entries_still_verify_once_a_key_is_set_and_new_ones_are_keyed(
    sessions: Sessions, keyed: Sessions
) -> None:
    await busy_log(sessions)  # before the key
    world = make_world(keyed)
    await world.order("ord_3")
    await world.escrow.act("ord_3", Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="PAY-3")
    assert [row.scheme for row in await entries(keyed)] == ["sha256"] * 7 + ["hmac-sha256"]
    result = await verify(keyed)
    assert (result.ok, result.checked, result.keyed) == (True, 8, 1)


async def test_keyed_entries_need_the_key_and_the_right_one(keyed: Sessions, engine: AsyncEngine) -> None:
    await busy_log(keyed)
    without = await verify(create_sessionmaker(engine))
    assert (without.ok, without.bad_seq) == (False, 1) and "set AUDIT_KEY" in (without.problem or "")
    wrong = await verify(create_sessionmaker(engine, audit_key=OTHER_KEY))
    assert (wrong.ok, wrong.bad_seq) == (False, 1)
    assert "AUDIT_KEY is not the key it was made with" in (wrong.problem or "")


async def test_an_edit_with_every_later_hash_and_the_head_recomputed_without_the_key_is_named(keyed: Sessions) -> None:
    await busy_log(keyed)  # entry 6 is ord_2's refund
    await rewrite(keyed, at=6, edit=refund_to_release)
    result = await verify(keyed)
    assert (result.ok, result.bad_seq, result.checked) == (False, 6, 5)
    assert "do not match its hash" in (result.problem or "")


@pytest.mark.parametrize(
    "edit",
    [
        refund_to_release,
        set_action,
        note_to("not agreed"),
    ],
    ids=["to", "action", "note"],
)
async def test_relabelled_unkeyed_entries_after_keyed_ones_are_tampering(keyed: Sessions, edit) -> None:
    await busy_log(keyed)
    await rewrite(keyed, at=6, edit=edit, scheme="sha256")  # every hash from #6 on is now "valid" plain SHA-256
    result = await verify(keyed)
    assert (result.ok, result.bad_seq) == (False, 6)
    assert "unkeyed (sha256) but comes after keyed entries" in (result.problem or "")
    assert "entry #6" in result.describe()


async def test_a_whole_chain_rewritten_without_the_key_is_caught_by_the_escrow_it_contradicts(keyed: Sessions) -> None:
    await busy_log(keyed)
    await rewrite(keyed, at=6, edit=refund_to_release, start=1, scheme="sha256")
    result = await verify(keyed)
    assert (result.ok, result.bad_seq) == (False, 6)
    assert "last entry of order ord_2 and says 'released', but the escrow is 'refunded'" in (result.problem or "")


async def test_a_whole_chain_rewritten_without_the_key_is_caught_by_an_anchor(keyed: Sessions) -> None:
    await busy_log(keyed)
    head = (await entries(keyed))[-1]
    anchor = audit.Anchor(head.seq, head.hash)
    assert (await verify(keyed, anchor)).ok
    assert "entry #7 matches the anchor" in (await verify(keyed, anchor)).describe()
    # A note: nothing else in the database contradicts it.
    await rewrite(keyed, at=4, start=1, scheme="sha256", edit=note_to("the dispute was settled"))
    assert (await verify(keyed)).ok  # nothing inside the database can tell...
    result = await verify(keyed, anchor)  # ...the head held elsewhere does
    assert (result.ok, result.bad_seq) == (False, 7)
    assert "rewritten after the anchor was taken" in (result.problem or "")


@pytest.mark.parametrize(("column", "value"), [("hash", "é" * 64), ("scheme", "md5")])
async def test_a_garbled_hash_or_scheme_is_named_not_a_crash(keyed: Sessions, column: str, value: str) -> None:
    await busy_log(keyed)
    async with keyed.begin() as session:
        await session.execute(update(AuditEntry).where(AuditEntry.seq == 7).values({column: value}))  # type: ignore[arg-type]
        if column == "hash":
            await session.execute(update(AuditHead).values(hash=value))
    result = await verify(keyed)
    assert (result.ok, result.bad_seq) == (False, 7)


async def test_an_anchor_past_the_end_of_the_chain_means_entries_were_deleted(keyed: Sessions) -> None:
    await busy_log(keyed)
    result = await verify(keyed, audit.Anchor(9, "a" * 64))
    assert (result.ok, result.bad_seq) == (False, 9)
    assert "chain ends at #7" in (result.problem or "")


async def test_every_entry_and_the_head_deleted_while_escrows_exist(keyed: Sessions) -> None:
    await busy_log(keyed)
    async with keyed.begin() as session:
        await session.execute(delete(AuditEntry))
        await session.execute(delete(AuditHead))
    result = await verify(keyed)
    assert (result.ok, result.bad_seq) == (False, None)
    assert "the escrow of order ord_1 is 'released' but no audit entry records it" in (result.problem or "")
    assert result.describe().startswith("audit log BROKEN in the escrows")


async def test_an_escrow_that_never_moved_needs_no_entry_but_one_that_moved_does(keyed: Sessions) -> None:
    world = make_world(keyed)
    await world.order("ord_new")
    assert (await verify(keyed)).ok
    async with keyed.begin() as session:
        await session.execute(update(Escrow).values(state="funded"))
    result = await verify(keyed)
    assert not result.ok and "order ord_new is 'funded' but no audit entry records it" in (result.problem or "")


async def test_an_escrow_state_changed_without_an_entry_names_its_last_entry(keyed: Sessions) -> None:
    await busy_log(keyed)
    async with keyed.begin() as session:
        await session.execute(update(Escrow).where(Escrow.order_id == "ord_2").values(state="released"))  # type: ignore[arg-type]
    result = await verify(keyed)
    assert (result.ok, result.bad_seq) == (False, 6)
    assert "says 'refunded', but the escrow is 'released'" in (result.problem or "")


async def purge_entry(sessions: Sessions, order_id: str, state: str) -> None:
    """The entry the retention purge appends after blanking an order's notes."""
    async with sessions.begin() as session:
        record = audit.Record(order_id, "purge", "retention", "system", state, state, "retention purge: 2 audit notes")
        await audit.append(session=session, record=record)


async def test_a_note_set_to_null_without_a_purge_entry_is_named(keyed: Sessions) -> None:
    await busy_log(keyed)
    async with keyed.begin() as session:
        await session.execute(update(AuditEntry).where(AuditEntry.seq == 4).values(note=None))  # type: ignore[arg-type]
    result = await verify(keyed)
    assert (result.ok, result.bad_seq) == (False, 4)
    assert "no later purge entry of order ord_2 names it" in (result.problem or "")


async def test_notes_blanked_before_their_orders_purge_entry_are_a_purge(keyed: Sessions) -> None:
    await busy_log(keyed)
    async with keyed.begin() as session:
        await session.execute(update(AuditEntry).where(AuditEntry.order_id == "ord_2").values(note=None))  # type: ignore[arg-type]
    await purge_entry(keyed, "ord_2", "refunded")
    result = await verify(keyed)
    assert (result.ok, result.checked, result.purged) == (True, 8, 3)
    # Another order's note is not covered by ord_2's purge, nor a note blanked after the purge (its own, here).
    async with keyed.begin() as session:
        await session.execute(update(AuditEntry).where(AuditEntry.seq == 8).values(note=None))  # type: ignore[arg-type]
    assert (await verify(keyed)).bad_seq == 8
    async with keyed.begin() as session:
        await session.execute(update(AuditEntry).where(AuditEntry.seq == 1).values(note=None))  # type: ignore[arg-type]
    assert (await verify(keyed)).bad_seq == 1


async def test_the_head_after_an_entry_is_that_entry(keyed: Sessions) -> None:
    await busy_log(keyed)
    async with keyed() as session:
        head = await audit_repo.head(session=session)
    last = (await entries(keyed))[-1]
    assert head is not None and (head.seq, head.hash) == (last.seq, last.hash)


@pytest.mark.parametrize(
    "text",
    ["7", "7:", ":" + "a" * 64, "0:" + "a" * 64, "-1:" + "a" * 64, "7:" + "a" * 63, "7:" + "g" * 64, "x:" + "a" * 64],
)
def test_an_anchor_is_seq_colon_64_hex_digits(text: str) -> None:
    with pytest.raises(ValueError, match="is not SEQ:HASH"):
        audit.Anchor.parse(text)


def test_an_anchor_reads_as_it_is_written() -> None:
    anchor = audit.Anchor.parse(" 12:" + "AB" * 32 + " ")
    assert anchor == audit.Anchor(12, "ab" * 32) and str(anchor) == "12:" + "ab" * 32


async def test_every_callback_carries_the_keyed_chain_head_right_after_its_entry(keyed: Sessions) -> None:
    world = make_world(keyed, callbacks_enabled=True)
    await world.order("ord_a")
    await world.order("ord_b")
    await world.escrow.act("ord_a", Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="P-A")
    await world.fact("order.cancelled", "ord_b")
    await world.escrow.act("ord_a", Action.REFUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="asked")
    rows = await entries(keyed)
    anchors = [audit.Anchor(**json.loads(row.body)["data"]["audit"]) for row in await world.outbox()]
    assert anchors == [audit.Anchor(row.seq, row.hash) for row in rows] and [a.seq for a in anchors] == [1, 2, 3]
    async with keyed() as session:
        head = await audit_repo.head(session=session)
    assert head is not None and anchors[-1] == audit.Anchor(head.seq, head.hash)
    for anchor in anchors:
        assert (await verify(keyed, anchor)).ok
    keyed_hashes = [hmac.new(KEY, audit.canonical(row), hashlib.sha256).hexdigest() for row in rows]
    assert [anchor.hash for anchor in anchors] == keyed_hashes


# ---- `guarantor audit verify [--anchor SEQ:HASH]` ------------------------------------------------------------


def keyed_log(database_url: str, then: Callable[[Sessions], object] | None = None) -> AuditEntry:
    """The busy log made by a process with `AUDIT_KEY`; `then(sessions)` (a coroutine) edits it. Returns the
    head entry as it was before the edit."""

    async def work() -> AuditEntry:
        engine = create_engine(database_url)
        await upgrade(engine)
        sessions = create_sessionmaker(engine, audit_key=KEY)
        await busy_log(sessions)
        head = (await entries(sessions))[-1]
        if then is not None:
            await then(sessions)  # type: ignore[misc]
        await engine.dispose()
        return head

    return asyncio.run(work())


def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str, key: bytes | None = KEY):
    from bot.__main__ import cli as guarantor

    monkeypatch.chdir(tmp_path)  # no stray .env
    env = {"DATABASE_URL": database_url, "MARKETPLACE_WEBHOOK_SECRETS": TEST_SECRET}
    env["AUDIT_KEY"] = key.decode() if key is not None else ""
    return CliRunner().invoke(guarantor, ["audit", "verify", *args], env=env)


def test_cli_verifies_a_keyed_chain_against_an_anchor(database_url, tmp_path, monkeypatch) -> None:
    head = keyed_log(database_url)
    result = cli(database_url, tmp_path, monkeypatch, "--anchor", f"{head.seq}:{head.hash}")
    assert result.exit_code == 0, result.output
    assert "7 entries verified (0 with purged notes), 7 keyed with AUDIT_KEY; entry #7 matches the anchor" in (
        result.output
    )
    assert "no AUDIT_KEY set" not in result.output


def test_cli_without_the_key_cannot_verify_keyed_entries(database_url, tmp_path, monkeypatch) -> None:
    keyed_log(database_url)
    result = cli(database_url, tmp_path, monkeypatch, key=None)
    assert result.exit_code == 1
    assert "BROKEN at entry #1: it is keyed (hmac-sha256): set AUDIT_KEY to verify it" in result.output


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda s: rewrite(s, at=6, edit=refund_to_release), "entry #6"),
        (lambda s: rewrite(s, at=6, edit=refund_to_release, scheme="sha256"), "entry #6"),
        (lambda s: rewrite(s, at=6, edit=refund_to_release, start=1, scheme="sha256"), "entry #6"),
        (lambda s: _sql(s, update(AuditEntry).where(AuditEntry.seq == 4).values(note=None)), "entry #4"),  # type: ignore[arg-type]
        (lambda s: _sql(s, update(Escrow).where(Escrow.order_id == "ord_1").values(state="refunded")), "entry #7"),  # type: ignore[arg-type]
        (lambda s: _sql(s, delete(AuditEntry), delete(AuditHead)), "order ord_1"),
    ],
    ids=["edit-rehashed", "edit-relabelled", "chain-rewritten", "note-nulled", "state-changed", "all-deleted"],
)
def test_cli_exits_non_zero_naming_what_was_edited_by_hand(database_url, tmp_path, monkeypatch, edit, named) -> None:
    keyed_log(database_url, edit)
    result = cli(database_url, tmp_path, monkeypatch)
    assert result.exit_code == 1, result.output
    assert "audit log BROKEN" in result.output and named in result.output


def test_cli_names_the_anchor_a_rewritten_chain_no_longer_has(database_url, tmp_path, monkeypatch) -> None:
    def edit(sessions: Sessions):
        return rewrite(sessions, at=4, start=1, scheme="sha256", edit=note_to("settled"))

    head = keyed_log(database_url, edit)
    result = cli(database_url, tmp_path, monkeypatch, "--anchor", f"{head.seq}:{head.hash}")
    assert result.exit_code == 1
    assert "BROKEN at entry #7" in result.output and "rewritten after the anchor was taken" in result.output


@pytest.mark.parametrize("anchor", ["7", "7:abc", "seven:" + "a" * 64])
def test_cli_refuses_a_malformed_anchor_with_a_usage_error(database_url, tmp_path, monkeypatch, anchor) -> None:
    result = cli(database_url, tmp_path, monkeypatch, "--anchor", anchor)
    assert result.exit_code == 2
    assert "Invalid value for '--anchor'" in result.output and "is not SEQ:HASH" in result.output


def test_cli_says_the_chain_is_unkeyed_without_a_key(database_url, tmp_path, monkeypatch) -> None:
    async def work() -> None:
        engine = create_engine(database_url)
        await busy_log(create_sessionmaker(engine))
        await engine.dispose()

    asyncio.run(work())
    result = cli(database_url, tmp_path, monkeypatch, key=None)
    assert result.exit_code == 0, result.output
    assert "no AUDIT_KEY set: the audit chain is unkeyed" in result.output


async def _sql(sessions: Sessions, *statements) -> None:
    async with sessions.begin() as session:
        for statement in statements:
            await session.execute(statement)
