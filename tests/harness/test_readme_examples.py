"""tests/README.md stays true: each of its ```python blocks runs here as a test (with the fixtures its
functions name), and its table of escrow actions matches the rules and the buttons the bot shows."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bot.services.escrow.rules import RULES, Action, Note, Role, State, rule_for
from cogs.escrow._forms import NoteModal
from cogs.escrow._views import controls_for

README = Path(__file__).parents[1] / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)
ROLES = (Role.OFFICER, Role.BUYER, Role.FREELANCER)


def _load_examples() -> dict[str, Any]:
    """Every test function the README's python blocks define, named after the block's first line."""
    text = README.read_text(encoding="utf-8")
    found: dict[str, Any] = {}
    for match in BLOCK.finditer(text):
        line = text.count("\n", 0, match.start(1)) + 1
        namespace: dict[str, Any] = {"__name__": f"tests.README_line_{line}"}
        exec(compile("\n" * (line - 1) + match[1], str(README), "exec"), namespace)  # tracebacks show README lines
        tests = {name: obj for name, obj in namespace.items() if name.startswith("test_") and callable(obj)}
        assert tests, f"the ```python block at {README.name}:{line} defines no test; every example must run"
        for name, function in tests.items():
            found[f"test_readme_line_{line}_{name.removeprefix('test_')}"] = function
    return found


globals().update(_load_examples())


def readme_escrow_table() -> dict[tuple[str, str], tuple[set[str], set[Role], str, bool]]:
    """(action, label) -> (states shown in, roles who may click, form, asks first) as the README's table says."""
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("| `guarantee:"):
            custom_id, label, shown, who, form, asks = (cell.strip() for cell in line.strip("|").split("|"))
            action = re.fullmatch(r"`guarantee:(\w+):<order_id>`", custom_id)
            assert action is not None, line
            if shown == "every non-terminal state":
                states = {s.value for s in State if not s.terminal}
            else:
                states = {s.strip() for s in shown.split(",")}
            roles = {role for role in ROLES if role.value in who.split("(")[0]}  # "(...)": a condition
            assert asks in ("yes", "no"), line
            rows[(action[1], label)] = (states, roles, form, asks == "yes")
    return rows


def escrow_buttons() -> dict[tuple[str, str], tuple[set[str], set[Role], Note, bool]]:
    """The same, from the buttons `controls_for` puts on the summary in each state (claimed or not) and the rules
    behind them."""
    shown: dict[tuple[str, str], tuple[set[str], set[Role], Note, bool]] = {}
    for state in State:
        for claimed_by in (None, 1):
            for row in controls_for("ord_1", state.value, claimed_by).to_components():
                for button in row["components"]:
                    if button["custom_id"].startswith("guarantee:close:"):  # closing: not an escrow action
                        continue
                    action = Action(button["custom_id"].split(":")[1])
                    rule = rule_for(action, state)
                    assert rule is not None, (action, state)
                    facts = (set(rule.roles) & set(ROLES), rule.note, rule.confirm)
                    states, *known = shown.setdefault((action.value, button["label"]), (set(), *facts))
                    assert tuple(known) == facts, f"{action} {button['label']!r} differs between states"
                    states.add(state.value)
    return shown


async def test_the_escrow_table_matches_the_buttons_and_rules() -> None:
    table, buttons = readme_escrow_table(), escrow_buttons()
    assert set(table) == set(buttons)
    for key, (states, roles, note, confirm) in buttons.items():
        documented_states, documented_roles, form, asks = table[key]
        assert (documented_states, documented_roles, asks) == (states, roles, confirm), key
        assert form == "—" if note is Note.NONE else form.startswith(note.value), (key, form)


async def test_every_form_has_one_input_called_note() -> None:
    for rule in RULES:
        if rule.note is not Note.NONE:
            modal = NoteModal("ord_1", rule.action, rule.note, version=1)
            assert [item.custom_id for item in modal.children] == ["note"]  # type: ignore[attr-defined]
