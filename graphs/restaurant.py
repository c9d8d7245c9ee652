"""A restaurant-booking agent with tools, and a handoff to a payment agent.

``RestaurantAgent`` checks availability and books tables; once a table is booked it
hands the conversation to ``PaymentAgent``, which takes the deposit. Offline, the local
responder follows each agent's ``rules`` (so the tool loop runs without a model);
against an OpenAI-compatible endpoint the model chooses the calls itself::

    graphflow chat graphs/restaurant.py                    # type to it (offline)
    graphflow run graphs/restaurant.py --input call.wav    # or talk to it (the voice pipeline)
    graphflow chat graphs/restaurant.py --llm openai --base-url http://127.0.0.1:8080/v1

The tables and bookings live in a small in-memory :class:`Restaurant` (the session's
user data), so tests can look at what the agents did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from graphflow.agent.agent import Agent
from graphflow.agent.options import SessionOptions
from graphflow.agent.session import AgentSession
from graphflow.agent.tool_context import RunContext
from graphflow.agent.tools import ToolError, function_tool
from graphflow.conversation.model import ToolRule
from graphflow.graph import Graph

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
"""The days the restaurant takes bookings for."""


@dataclass
class Booking:
    """One booked table."""

    name: str
    day: str
    time: str
    people: int
    paid: bool = False


@dataclass
class Restaurant:
    """Tables per evening slot, and the bookings made (the agents' user data)."""

    tables: int = 3
    bookings: list[Booking] = field(default_factory=list)

    def free(self, day: str, time: str) -> int:
        """Tables still free at ``time`` on ``day``."""
        return self.tables - sum(1 for b in self.bookings if b.day == day and b.time == time)


def _restaurant(ctx: RunContext) -> Restaurant:
    data = ctx.userdata
    if not isinstance(data, Restaurant):
        raise ToolError("the booking system is not available right now")
    return data


Day = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class PaymentAgent(Agent):
    """Takes the deposit for a booking."""

    def __init__(self, booking: Booking) -> None:
        super().__init__(
            f"You take a 10 euro deposit for {booking.name}'s table ({booking.people} people, "
            f"{booking.day} at {booking.time}). Ask for the last four digits of the card.",
            rules=[
                ToolRule(
                    when=r"(?P<digits>\d{4})\b",
                    call="take_deposit",
                    arguments={"card_last4": '"{digits}"'},
                    then="{output}",
                )
            ],
        )
        self.booking = booking

    async def on_enter(self) -> None:
        """Ask for the card as soon as the conversation arrives here."""
        if self.session is not None:
            await self.session.generate_reply(
                'Say "To hold the table we take a 10 euro deposit. '
                'What are the last four digits of your card?"'
            )

    @function_tool
    async def take_deposit(self, card_last4: Annotated[str, "the last four digits of the card"]) -> str:
        """Charge the 10 euro deposit to the card ending in these digits."""
        if len(card_last4) != 4 or not card_last4.isdigit():
            raise ToolError("the card number must be four digits")
        self.booking.paid = True
        return (
            f"Thank you, the deposit is paid with the card ending {card_last4}. See you {self.booking.day}!"
        )


class RestaurantAgent(Agent):
    """Answers questions about tables and books them."""

    def __init__(self) -> None:
        super().__init__(
            "You are the host of Chez Graphe. Help the caller book a table: check availability, "
            "then book it with their name. Keep answers short.",
            rules=[
                ToolRule(
                    when=r"book .*?for (?P<people>\d+).*?(?P<day>" + "|".join(DAYS) + r").*?"
                    r"(?P<time>\d{1,2}(?::\d\d)?).*?name (?:is )?(?P<name>[a-z]+)",
                    call="book_table",
                    arguments={
                        "name": '"{name}"',
                        "day": '"{day}"',
                        "time": '"{time}"',
                        "people": "{people}",
                    },
                    then="{output}",
                ),
                ToolRule(
                    when=r"(?P<day>" + "|".join(DAYS) + r").*?(?P<time>\d{1,2}(?::\d\d)?)",
                    call="check_availability",
                    arguments={"day": '"{day}"', "time": '"{time}"'},
                    say="Let me check.",
                ),
            ],
        )

    @function_tool
    async def check_availability(self, ctx: RunContext, day: Day, time: Annotated[str, "e.g. 19:30"]) -> str:
        """Whether a table is free on that day at that time."""
        free = _restaurant(ctx).free(day, time)
        if free <= 0:
            return f"Sorry, {day} at {time} is fully booked."
        return f"Yes, we have {free} table{'s' if free > 1 else ''} free on {day} at {time}."

    @function_tool
    async def book_table(
        self, ctx: RunContext, name: str, day: Day, time: str, people: Annotated[int, "how many guests"]
    ) -> Agent | str:
        """Book a table; then the caller pays the deposit."""
        restaurant = _restaurant(ctx)
        if not 1 <= people <= 8:
            raise ToolError("we take bookings for 1 to 8 people")
        if restaurant.free(day, time) <= 0:
            return f"Sorry, {day} at {time} is fully booked."
        booking = Booking(name=name.capitalize(), day=day, time=time, people=people)
        restaurant.bookings.append(booking)
        return PaymentAgent(booking)


def build_agent() -> Agent:
    """The agent ``graphflow chat`` talks to."""
    return RestaurantAgent()


def build_userdata() -> Restaurant:
    """The user data of a new conversation."""
    return Restaurant()


def build_session(options: SessionOptions | None = None) -> AgentSession:
    """The restaurant agent in the voice pipeline (``graphflow run graphs/restaurant.py -i in.wav``)."""
    return AgentSession(options, agent=RestaurantAgent(), userdata=Restaurant())


def build_graph() -> Graph:
    """The voice graph the restaurant agent talks through (``graphflow render graphs/restaurant.py``)."""
    return build_session().graph
