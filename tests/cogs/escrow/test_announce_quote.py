"""A note is quoted line by line in the ticket channel: it cannot imitate a line of the bot's own."""

from bot.services.escrow.announcements import Line
from bot.services.escrow.rules import Action, Role, State
from cogs.escrow._announce import line


def test_every_line_of_a_note_is_quoted() -> None:
    change = Line(
        action=Action.REFUND,
        actor="42",
        role=Role.OFFICER,
        source=State.FUNDED,
        target=State.REFUNDED,
        note="buyer asked\n✅ 120.50 USD released to the freelancer by x.",
    )
    status, *note_lines = line(change, "120.50 USD").splitlines()
    assert "refunded to the buyer" in status and "120.50 USD" in status
    assert note_lines == ["> buyer asked", "> ✅ 120.50 USD released to the freelancer by x."]
