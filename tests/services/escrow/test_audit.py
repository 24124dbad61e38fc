"""The audit log: hash-chained, append-only; `verify` names the first bad entry."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, update

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.migrate import upgrade
from bot.db.models import AuditEntry
from bot.db.repos import audit as audit_repo
from bot.services.escrow import audit
from bot.services.escrow.rules import Action, Role
from tests.conftest import TEST_SECRET
from tests.services.escrow.escrow_support import BUYER, FREELANCER, OFFICER, Sessions, make_world


async def busy_log(sessions: Sessions) -> None:
    """Two orders, seven entries, notes on most."""
    world = make_world(sessions)
    for order_id in ("ord_1", "ord_2"):
        await world.order(order_id)
        await world.escrow.act(order_id, Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="PAY")
    await world.escrow.act("ord_1", Action.DELIVER, actor_id=FREELANCER, actor_role=Role.FREELANCER)
    await world.escrow.act("ord_2", Action.DISPUTE, actor_id=BUYER, actor_role=Role.BUYER, note="late")
    await world.escrow.act("ord_1", Action.APPROVE, actor_id=BUYER, actor_role=Role.BUYER)
    await world.escrow.act("ord_2", Action.REFUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="agreed")
    await world.escrow.act("ord_1", Action.RELEASE, actor_id=OFFICER, actor_role=Role.OFFICER)


async def verify(sessions: Sessions) -> audit.Verification:
    async with sessions() as session:
        return await audit.verify(session=session)


async def tamper(sessions: Sessions, statement) -> None:
    async with sessions.begin() as session:
        await session.execute(statement)


async def test_an_untouched_log_verifies(sessions: Sessions) -> None:
    await busy_log(sessions)
    result = await verify(sessions)
    assert (result.ok, result.checked) == (True, 7)
    assert "7 entries verified" in result.describe()


async def test_an_empty_log_verifies(sessions: Sessions) -> None:
    assert (await verify(sessions)).ok


async def test_each_entry_chains_onto_the_one_before(sessions: Sessions) -> None:
    await busy_log(sessions)
    async with sessions() as session:
        entries = await audit_repo.for_order(session=session, order_id="ord_1")
    assert entries[0].prev_hash == audit.GENESIS
    assert all(len(e.hash) == 64 and e.note_sha256 in (None, audit.note_digest(e.note)) for e in entries)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"to_state": "refunded"}, "do not match its hash"),
        ({"actor": "666"}, "do not match its hash"),
        ({"note": "PAY-EDITED"}, "note does not match"),
        ({"note_sha256": None}, "do not match its hash"),
        ({"created_at": audit.utcnow()}, "do not match its hash"),
    ],
)
async def test_an_edited_entry_is_named(sessions: Sessions, change, problem) -> None:
    await busy_log(sessions)
    await tamper(sessions, update(AuditEntry).where(AuditEntry.seq == 4).values(**change))  # the dispute, with a note
    result = await verify(sessions)
    assert (result.ok, result.bad_seq, result.checked) == (False, 4, 3)
    assert problem in (result.problem or "")
    assert "entry #4" in result.describe()


async def test_a_deleted_entry_is_detected_at_the_gap(sessions: Sessions) -> None:
    await busy_log(sessions)
    await tamper(sessions, delete(AuditEntry).where(AuditEntry.seq == 4))
    result = await verify(sessions)
    assert (result.ok, result.bad_seq) == (False, 5)
    assert "missing or reordered" in (result.problem or "")


async def test_deleting_the_newest_entries_is_detected_by_the_chain_head(sessions: Sessions) -> None:
    await busy_log(sessions)
    await tamper(sessions, delete(AuditEntry).where(AuditEntry.seq >= 6))
    result = await verify(sessions)
    assert (result.ok, result.bad_seq) == (False, 6)
    assert "deleted" in (result.problem or "")


async def test_reordered_entries_are_detected(sessions: Sessions) -> None:
    await busy_log(sessions)
    await tamper(sessions, update(AuditEntry).where(AuditEntry.seq == 2).values(seq=-2))
    await tamper(sessions, update(AuditEntry).where(AuditEntry.seq == 3).values(seq=2))
    await tamper(sessions, update(AuditEntry).where(AuditEntry.seq == -2).values(seq=3))
    result = await verify(sessions)
    assert (result.ok, result.bad_seq) == (False, 2)


async def test_notes_blanked_with_a_purge_entry_are_a_purge_and_without_one_tampering(sessions: Sessions) -> None:
    await busy_log(sessions)
    await tamper(sessions, update(AuditEntry).values(note=None))
    result = await verify(sessions)
    assert (result.ok, result.bad_seq) == (False, 1)  # nobody purged: someone blanked them
    assert "no later purge entry of order ord_1 names it" in (result.problem or "")
    for order_id, state in (("ord_1", "released"), ("ord_2", "refunded")):
        async with sessions.begin() as session:
            record = audit.Record(order_id, "purge", "retention", "system", state, state, "retention purge")
            await audit.append(session=session, record=record)
    result = await verify(sessions)
    assert (result.ok, result.checked, result.purged) == (True, 9, 4)


async def test_concurrent_appends_keep_one_unbroken_chain(sessions: Sessions) -> None:
    async def append(n: int) -> None:
        async with sessions.begin() as session:
            record = audit.Record(f"ord_{n}", "flag", "marketplace", "marketplace", "funded", "funded", f"n{n}")
            await audit.append(session=session, record=record)

    await asyncio.gather(*(append(n) for n in range(30)))
    result = await verify(sessions)
    assert (result.ok, result.checked) == (True, 30)


def _cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from bot.__main__ import cli

    monkeypatch.chdir(tmp_path)  # no stray .env
    env = {"DATABASE_URL": database_url, "MARKETPLACE_WEBHOOK_SECRETS": TEST_SECRET}
    return CliRunner().invoke(cli, ["audit", "verify"], env=env)


def _prepare(database_url: str, *, edit: bool) -> None:
    async def work() -> None:
        engine = create_engine(database_url)
        await upgrade(engine)
        sessions = create_sessionmaker(engine)
        await busy_log(sessions)
        if edit:
            await tamper(sessions, update(AuditEntry).where(AuditEntry.seq == 5).values(note="changed"))
        await engine.dispose()

    asyncio.run(work())


def test_cli_verify_exits_zero_with_a_count(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _prepare(database_url, edit=False)
    result = _cli(database_url, tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    assert "7 entries verified" in result.output


def test_cli_verify_fails_naming_the_bad_entry(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _prepare(database_url, edit=True)
    result = _cli(database_url, tmp_path, monkeypatch)
    assert result.exit_code == 1
    assert "entry #5" in result.output
