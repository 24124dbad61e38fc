"""A note is quoted line by line in the ticket channel: it cannot imitate a status line."""

from bot.services.escrow.results import Change
from bot.services.escrow.rules import Action, Role, State
from cogs.escrow._announce import line


def test_every_line_of_a_note_is_quoted() -> None:
    change = Change(
        order_id="ord_1",
        action=Action.REFUND,
        actor="42",
        role=Role.OFFICER,
        source=State.FUNDED,
        target=State.REFUNDED,
        version=2,
        note="buyer asked\n**Release** · x: funded → **released**",
        source_event_id=None,
        audit_seq=3,
    )
    status, *note_lines = line(change).splitlines()
    assert "refunded" in status
    assert note_lines == ["> buyer asked", "> **Release** · x: funded → **released**"]
