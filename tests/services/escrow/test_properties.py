"""Random sequences of actions by random actors against the real service on a real database.

Invariants: nothing leaves a terminal state; released and refunded never both happen; every
state change has exactly one audit entry, and the entries replay the state's history; an
officer who is a party never moves money (nor does anyone outside the order); the chain verifies.

Fast by default; `ESCROW_PROFILE=escrow-thorough` (CI, nightly) runs thousands of sequences.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from pathlib import Path

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.migrate import upgrade
from bot.services.errors import GuaranteeError
from bot.services.escrow import audit
from bot.services.escrow.results import MARKETPLACE
from bot.services.escrow.rules import MONEY_STATES, TERMINAL, Action, Role, State, rules_from
from tests.services.escrow.escrow_support import (
    BUYER,
    FREELANCER,
    OFFICER,
    OFFICER_2,
    OUTSIDER,
    EscrowWorld,
    make_world,
)

settings.register_profile(
    "escrow-fast", max_examples=50, stateful_step_count=20, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip
settings.register_profile(
    "escrow-thorough", max_examples=2000, stateful_step_count=40, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip

# (Discord id, role claimed): an officer, a second officer, an officer who is the freelancer,
# the parties, an outsider pretending, and the marketplace.
ACTORS = [
    (OFFICER, Role.OFFICER),
    (OFFICER_2, Role.OFFICER),
    (FREELANCER, Role.OFFICER),
    (BUYER, Role.OFFICER),
    (BUYER, Role.BUYER),
    (FREELANCER, Role.FREELANCER),
    (OUTSIDER, Role.OUTSIDER),
    (OUTSIDER, Role.BUYER),
    (None, Role.MARKETPLACE),
]
ACTIONS = [a for a in Action if a not in (Action.FLAG, Action.TERMS)]
NOTES = st.sampled_from([None, "", "a written reason"])
_orders = itertools.count(1)
_FUND = (OFFICER, Role.OFFICER, Action.FUND)
_DELIVER = (FREELANCER, Role.FREELANCER, Action.DELIVER)
PATHS: dict[str, list[tuple[int, Role, Action]]] = {
    "awaiting_funding": [],
    "funded": [_FUND],
    "delivered": [_FUND, _DELIVER],
    "delivered+approved": [_FUND, _DELIVER, (BUYER, Role.BUYER, Action.APPROVE)],
    "disputed": [_FUND, (BUYER, Role.BUYER, Action.DISPUTE)],
}


class EscrowMachine(RuleBasedStateMachine):
    runner: asyncio.Runner
    world: EscrowWorld

    def __init__(self) -> None:
        super().__init__()
        self.order_id = f"ord_{next(_orders)}"
        self.run(self.world.order(self.order_id))
        self.history: list[State] = [State.AWAITING_FUNDING]
        self.events = itertools.count(1)

    @initialize(start=st.sampled_from(list(PATHS)))
    def start_somewhere(self, start: str) -> None:
        """Begin from any live state, reached through the real service, so every state gets explored."""
        for actor, role, action in PATHS[start]:
            self.act((actor, role), action, "a written reason")
        assert self.state.value == start.split("+")[0]

    def run(self, coro):
        return self.runner.run(coro)

    @property
    def state(self) -> State:
        return self.history[-1]

    async def _apply(self, actor: int | None, role: Role, action: Action, note: str | None):
        if role is Role.MARKETPLACE:
            async with self.world.sessions.begin() as session:
                event_id = f"{self.order_id}_evt_{next(self.events)}"
                return await self.world.escrow.apply_in(
                    session, self.order_id, action, actor=MARKETPLACE, role=role, note=note, source_event_id=event_id
                )
        assert actor is not None
        return await self.world.escrow.act(self.order_id, action, actor_id=actor, actor_role=role, note=note)

    @rule(who=st.sampled_from(ACTORS), action=st.sampled_from(ACTIONS), note=NOTES)
    def act_at_random(self, who: tuple[int | None, Role], action: Action, note: str | None) -> None:
        self.act(who, action, note)

    @rule(data=st.data())
    def act_as_someone_the_table_names(self, data: st.DataObject) -> None:
        """An action the state offers, by someone whose role it names (officer-parties included)."""
        offered = rules_from(self.state)
        if not offered:
            return
        forward = [r for r in offered if r.action not in (Action.CANCEL, Action.CLAIM)]
        chosen = data.draw(st.sampled_from(offered + forward * 2))  # favour going forward over cancelling
        who = data.draw(st.sampled_from([a for a in ACTORS if a[1] in chosen.roles]))
        self.act(who, chosen.action, data.draw(st.sampled_from([None, "a written reason", "another reason"])))

    def act(self, who: tuple[int | None, Role], action: Action, note: str | None) -> None:
        actor, role = who
        try:
            change = self.run(self._apply(actor, role, action, note))
        except GuaranteeError as exc:
            assert str(exc)  # a sentence for the user
            return
        assert change.source is self.state
        if change.target in MONEY_STATES:
            assert role is Role.OFFICER and actor not in (FREELANCER, BUYER, OUTSIDER)
        if change.state_changed:
            self.history.append(change.target)
            event(f"reached {change.target}")

    @rule(kind=st.sampled_from(["order.delivered", "order.completed", "order.cancelled"]), replay=st.booleans())
    def marketplace_event(self, kind: str, replay: bool) -> None:
        webhook_id = f"{self.order_id}_{kind}"
        self.run(self.world.fact(kind, self.order_id, webhook_id if replay else None))
        self.history.append(State(self.run(self.world.state(self.order_id)).state))
        if self.history[-1] is self.history[-2]:
            self.history.pop()

    @invariant()
    def the_database_agrees_and_terminal_states_are_final(self) -> None:
        assert State(self.run(self.world.state(self.order_id)).state) is self.state
        for earlier, later in itertools.pairwise(self.history):
            assert earlier not in TERMINAL, f"left terminal state {earlier}"
            assert earlier is not later

    @invariant()
    def every_state_change_has_exactly_one_audit_entry(self) -> None:
        entries = self.run(self.world.entries(self.order_id))
        changes = [e for e in entries if e.from_state != e.to_state]
        assert [State(e.from_state) for e in changes] + [self.state] == self.history
        assert [State(e.to_state) for e in changes] == self.history[1:]
        moved = {e.to_state for e in changes} & MONEY_STATES
        assert len(moved) <= 1, "released and refunded both happened"
        for entry in changes:
            if entry.to_state in MONEY_STATES:
                assert entry.role == Role.OFFICER and entry.actor not in (str(FREELANCER), str(BUYER))

    def teardown(self) -> None:
        async def check() -> audit.Verification:
            async with self.world.sessions() as session:
                return await audit.verify(session=session)

        result = self.run(check())
        assert result.ok, result.describe()


def test_random_sequences_hold_the_invariants(tmp_path: Path) -> None:
    profile = settings.get_profile(os.environ.get("ESCROW_PROFILE", "escrow-fast"))
    with asyncio.Runner() as runner:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'escrow.db'}")
        runner.run(upgrade(engine))
        EscrowMachine.runner = runner
        EscrowMachine.world = make_world(create_sessionmaker(engine))
        try:
            run_state_machine_as_test(EscrowMachine, settings=profile)
        finally:
            runner.run(engine.dispose())
