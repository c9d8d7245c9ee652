"""What one turn of a text session produced, and fluent assertions over it.

::

    result = await session.run("a table for four at seven")
    result.expect.next_event().is_function_call(name="book_table", arguments={"people": 4})
    result.expect.next_event().is_function_call_output()
    result.expect.next_event().is_message(role="assistant", contains="booked")
    result.expect.no_more_events()

``mock_tools(RestaurantAgent, {"book_table": fake})`` runs stand-ins for a block.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import msgspec

from graphflow.agent.agent import STAND_INS, Agent
from graphflow.conversation.events import (
    AgentHandoff,
    AgentMessage,
    FunctionCalls,
    FunctionOutput,
    SessionEvent,
)
from graphflow.frames import ToolCall


class TurnEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One thing that happened in a turn: ``message``, ``function_call``, ``function_output``, ``handoff``."""

    type: str
    role: str = ""
    text: str = ""
    name: str = ""
    arguments: str = ""
    call_id: str = ""
    is_error: bool = False
    from_agent: str = ""
    to_agent: str = ""
    done: bool = True

    def __str__(self) -> str:
        if self.type == "message":
            return f"message from {self.role}: {self.text!r}"
        if self.type == "function_call":
            return f"call {self.name}({self.arguments})"
        if self.type == "function_output":
            return f"output of {self.name}{' (error)' if self.is_error else ''}: {self.text!r}"
        return f"handoff {self.from_agent} -> {self.to_agent}{'' if self.done else ' (not done)'}"


def from_session_event(
    event: SessionEvent, *, call: ToolCall | None = None, role: str = "assistant"
) -> TurnEvent:
    """The turn event of a session event (``call``: the call of a ``FunctionCalls`` to describe)."""
    if isinstance(event, FunctionCalls) and call is not None:
        return TurnEvent(type="function_call", name=call.name, arguments=call.arguments, call_id=call.id)
    if isinstance(event, FunctionOutput):
        return TurnEvent(
            type="function_output",
            name=event.name,
            text=event.output,
            call_id=event.call_id,
            is_error=event.is_error,
        )
    if isinstance(event, AgentHandoff):
        return TurnEvent(
            type="handoff", from_agent=event.from_agent, to_agent=event.to_agent, done=event.done
        )
    if isinstance(event, AgentMessage):
        return TurnEvent(type="message", role=role, text=event.text)
    raise TypeError(f"no turn event for {type(event).__name__}")


class RunResult:
    """The events of one turn, in order (the user's message first when there was one)."""

    def __init__(self, events: list[TurnEvent]) -> None:
        self.events = [e for e in events if not (e.type == "message" and e.role == "user")]
        self.user = next((e.text for e in events if e.type == "message" and e.role == "user"), "")
        self.expect = Expectations(self.events)

    @property
    def text(self) -> str:
        """Everything the assistant said in this turn."""
        return " ".join(e.text for e in self.events if e.type == "message" and e.role == "assistant")

    def __repr__(self) -> str:
        return f"RunResult({[str(e) for e in self.events]})"


class Expectations:
    """A cursor over a turn's events with assertions that explain what happened instead."""

    def __init__(self, events: list[TurnEvent]) -> None:
        self.events = events
        self.position = 0

    def next_event(self) -> EventCheck:
        """The next event (an AssertionError when there is none)."""
        if self.position >= len(self.events):
            self._fail("expected another event, but there are no more")
        event = self.events[self.position]
        self.position += 1
        return EventCheck(event, self)

    def skip_next(self, count: int = 1) -> Expectations:
        """Move past ``count`` events."""
        self.position = min(len(self.events), self.position + count)
        return self

    def no_more_events(self) -> None:
        """Assert every event has been looked at."""
        if self.position < len(self.events):
            self._fail(f"expected no more events, but {self.events[self.position]} follows")

    def contains_function_call(self, *, name: str, arguments: dict[str, Any] | None = None) -> TurnEvent:
        """Some event (anywhere) is a call of ``name`` (with these arguments)."""
        for event in self.events:
            if event.type == "function_call" and event.name == name and _args_match(event, arguments):
                return event
        self._fail(f"expected a call of {name}({arguments or ''})")
        raise AssertionError  # unreachable

    def contains_message(self, *, role: str = "assistant", contains: str = "") -> TurnEvent:
        """Some event (anywhere) is a message from ``role`` containing ``contains``."""
        for event in self.events:
            if event.type == "message" and event.role == role and contains.lower() in event.text.lower():
                return event
        self._fail(f"expected a message from {role} containing {contains!r}")
        raise AssertionError  # unreachable

    def contains_agent_handoff(self, *, new_agent: type | str | None = None, done: bool = True) -> TurnEvent:
        """Some event (anywhere) is a handoff to ``new_agent`` (its class or name), done or not."""
        wanted = new_agent.__name__ if isinstance(new_agent, type) else new_agent
        for event in self.events:
            if event.type == "handoff" and (not wanted or event.to_agent == wanted) and event.done == done:
                return event
        self._fail(f"expected a handoff to {wanted or 'an agent'} (done={done})")
        raise AssertionError  # unreachable

    def _fail(self, message: str) -> None:
        listing = "\n".join(
            f"  {'>' if i == self.position - 1 else ' '} {i}: {e}" for i, e in enumerate(self.events)
        )
        raise AssertionError(f"{message}\nevents of the turn:\n{listing or '  (none)'}")


class EventCheck:
    """Assertions about one event; each returns the event when it holds."""

    def __init__(self, event: TurnEvent, expectations: Expectations) -> None:
        self.event = event
        self._expectations = expectations

    def is_message(self, *, role: str = "assistant", contains: str = "") -> TurnEvent:
        """A message from ``role`` whose text contains ``contains`` (case-insensitive)."""
        e = self.event
        if e.type != "message" or e.role != role or contains.lower() not in e.text.lower():
            self._expectations._fail(f"expected a message from {role} containing {contains!r}, got {e}")
        return e

    def is_function_call(self, *, name: str = "", arguments: dict[str, Any] | None = None) -> TurnEvent:
        """A call of ``name`` whose arguments include ``arguments``."""
        e = self.event
        if e.type != "function_call" or (name and e.name != name) or not _args_match(e, arguments):
            self._expectations._fail(f"expected a call of {name or 'a tool'}({arguments or ''}), got {e}")
        return e

    def is_function_call_output(self, *, contains: str = "", is_error: bool | None = None) -> TurnEvent:
        """A call's output containing ``contains`` (and an error or not, if given)."""
        e = self.event
        if (
            e.type != "function_output"
            or contains.lower() not in e.text.lower()
            or (is_error is not None and e.is_error != is_error)
        ):
            self._expectations._fail(f"expected a tool output containing {contains!r}, got {e}")
        return e

    def is_agent_handoff(self, *, new_agent: type | str | None = None, done: bool = True) -> TurnEvent:
        """A handoff to ``new_agent`` (its class or name)."""
        e = self.event
        wanted = new_agent.__name__ if isinstance(new_agent, type) else new_agent
        if e.type != "handoff" or (wanted and e.to_agent != wanted) or e.done != done:
            self._expectations._fail(f"expected a handoff to {wanted or 'an agent'}, got {e}")
        return e


def _args_match(event: TurnEvent, arguments: dict[str, Any] | None) -> bool:
    if arguments is None:
        return True
    try:
        actual = json.loads(event.arguments or "{}")
    except ValueError:
        return False
    return isinstance(actual, dict) and all(actual.get(k) == v for k, v in arguments.items())


@contextlib.contextmanager
def mock_tools(target: Agent | type[Agent], stand_ins: Mapping[str, Callable[..., Any]]) -> Iterator[None]:
    """Within the block, the named tools of ``target`` run stand-ins (same names and schemas).

    ``target`` is one agent, or an agent class: then every agent of that class (and of its
    subclasses) uses the stand-ins, including one a tool creates for a handoff. A name
    that is not one of the agent's tools raises ``ConfigError`` when the tools are used.
    """
    own = vars(target)
    had, before = STAND_INS in own, own.get(STAND_INS)
    merged = {**getattr(target, STAND_INS, {}), **stand_ins}
    setattr(target, STAND_INS, merged)
    try:
        if isinstance(target, Agent):
            _ = target.tools  # an unknown name fails here, not in the middle of a turn
        yield
    finally:
        if had:
            setattr(target, STAND_INS, before)
        else:
            delattr(target, STAND_INS)
