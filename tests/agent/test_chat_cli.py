"""``graphflow chat``: typed lines in, the agent's replies, calls and handoffs printed."""

from __future__ import annotations

import io

from graphflow.cli.chat import converse
from graphs.restaurant import Restaurant, RestaurantAgent


async def test_chat_prints_calls_handoffs_and_replies() -> None:
    typed = io.StringIO(
        "Do you have a table on friday at 19:30?\n"
        "Please book it for 2 people on friday at 19:30, my name is ada\n"
        "the card ends 1234\n"
        "/quit\n"
    )
    out = io.StringIO()
    restaurant = Restaurant()
    await converse(RestaurantAgent(), restaurant, None, typed, out)
    text = out.getvalue()
    assert "[calls check_availability(" in text
    assert "[handoff RestaurantAgent -> PaymentAgent]" in text
    assert "agent> Thank you, the deposit is paid with the card ending 1234" in text
    assert restaurant.bookings[0].paid
