"""The restaurant example in text mode: tools, a handoff, and bad input from the model."""

from __future__ import annotations

import asyncio

import pytest

from graphflow.agent.testing import RunResult, mock_tools
from graphflow.agent.text import TextSession
from graphflow.errors import ConfigError
from graphs.restaurant import Booking, PaymentAgent, Restaurant, RestaurantAgent


async def test_booking_a_table_runs_the_tools_and_hands_over_to_payment() -> None:
    restaurant = Restaurant()
    async with TextSession(RestaurantAgent(), userdata=restaurant) as session:
        result = await session.run("Do you have a table on friday at 19:30?")
        result.expect.next_event().is_function_call(
            name="check_availability", arguments={"day": "friday", "time": "19:30"}
        )
        result.expect.next_event().is_function_call_output(contains="3 tables free")
        result.expect.next_event().is_message(contains="3 tables free on friday")
        result.expect.no_more_events()

        result = await session.run("Please book it for 4 people on friday at 19:30, my name is ada")
        result.expect.next_event().is_function_call(name="book_table", arguments={"people": 4, "name": "ada"})
        result.expect.next_event().is_function_call_output(contains="handoff to PaymentAgent")
        result.expect.next_event().is_agent_handoff(new_agent=PaymentAgent)
        result.expect.contains_message(contains="deposit")
        assert isinstance(session.agent, PaymentAgent)
        assert restaurant.bookings == [Booking("Ada", "friday", "19:30", 4)]

        result = await session.run("It is 4242")
        result.expect.next_event().is_function_call(name="take_deposit", arguments={"card_last4": "4242"})
        result.expect.next_event().is_function_call_output(contains="deposit is paid")
        result.expect.next_event().is_message(contains="card ending 4242")
        result.expect.no_more_events()
        assert restaurant.bookings[0].paid
    roles = [m.role for m in session.chat.messages]
    assert roles.count("tool") == 3 and "handoff" in roles
    assert session.chat.messages[0].content.startswith("You take a 10 euro deposit")


async def test_a_full_evening_is_refused_and_no_handoff_happens() -> None:
    restaurant = Restaurant(tables=0)
    async with TextSession(RestaurantAgent(), userdata=restaurant) as session:
        result = await session.run("book a table for 2 on monday at 20:00, my name is bob")
        result.expect.next_event().is_function_call(name="book_table")
        result.expect.next_event().is_function_call_output(contains="fully booked")
        result.expect.next_event().is_message(contains="fully booked")
        result.expect.no_more_events()
        assert isinstance(session.agent, RestaurantAgent)


async def test_tools_can_be_replaced_with_stand_ins() -> None:
    async with TextSession(RestaurantAgent(), userdata=Restaurant()) as session:
        session.replace_tool("check_availability", lambda ctx, day, time: f"stand-in says {day} is quiet")
        result = await session.run("anything on sunday at 18:00?")
        result.expect.next_event().is_function_call(name="check_availability")
        result.expect.next_event().is_function_call_output(contains="stand-in says sunday is quiet")


async def test_a_tool_error_reaches_the_model_and_the_session_goes_on() -> None:
    async with TextSession(RestaurantAgent(), userdata=Restaurant()) as session:
        result = await session.run("book a table for 12 on monday at 20:00, my name is eve")
        result.expect.next_event().is_function_call(name="book_table", arguments={"people": 12})
        result.expect.next_event().is_function_call_output(contains="1 to 8 people", is_error=True)
        result.expect.next_event().is_message(contains="didn't work")
        again = await session.run("hello")
        again.expect.next_event().is_message(contains="hello")


def test_results_explain_what_happened_when_an_expectation_fails() -> None:
    result = asyncio.run(_one_turn("hello"))
    try:
        result.expect.next_event().is_function_call(name="book_table")
    except AssertionError as exc:
        assert "expected a call of book_table" in str(exc) and "message from assistant" in str(exc)
    else:
        raise AssertionError("the expectation should have failed")


async def _one_turn(text: str) -> RunResult:
    async with TextSession(RestaurantAgent(), userdata=Restaurant()) as session:
        return await session.run(text)


async def test_mock_tools_reaches_an_agent_created_by_a_handoff() -> None:
    restaurant = Restaurant()

    def declined(card_last4: str) -> str:
        return f"the card ending {card_last4} was declined"

    with mock_tools(PaymentAgent, {"take_deposit": declined}):
        async with TextSession(RestaurantAgent(), userdata=restaurant) as session:
            await session.run("Please book it for 2 people on friday at 19:30, my name is ada")
            result = await session.run("It is 4242")
            result.expect.next_event().is_function_call(name="take_deposit", arguments={"card_last4": "4242"})
            result.expect.next_event().is_function_call_output(contains="declined")
    assert not restaurant.bookings[0].paid  # the real tool never ran
    assert "take_deposit" in PaymentAgent(restaurant.bookings[0]).tools.names
    assert not hasattr(PaymentAgent, "_graphflow_stand_ins")  # the class is as it was


async def test_mock_tools_on_one_agent_refuses_an_unknown_tool() -> None:
    agent = RestaurantAgent()
    with pytest.raises(ConfigError, match="fly"), mock_tools(agent, {"fly": lambda: "up"}):
        pass
    with mock_tools(agent, {"check_availability": lambda ctx, day, time: "quiet"}):
        async with TextSession(agent, userdata=Restaurant()) as session:
            result = await session.run("anything on sunday at 18:00?")
            result.expect.next_event().is_function_call(name="check_availability")
            result.expect.next_event().is_function_call_output(contains="quiet")
