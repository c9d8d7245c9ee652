"""A session without audio: typed turns in, the turn's messages, tool calls and handoffs out.

It runs the same language-model stage and replies a voice session runs, in a small graph
(turn input → LLM → reply collector), so an agent's instructions, tools, hooks and handoffs behave
as they do in a call. ``graphflow chat`` and the tests of agents use it::

    async with TextSession(RestaurantAgent()) as session:
        result = await session.run("a table for four at seven")
        result.expect.next_event().is_function_call(name="book_table", arguments={"people": 4})
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from graphflow.agent.agent import Agent
from graphflow.agent.fragments import Fragments
from graphflow.agent.handoff import hand_over
from graphflow.agent.replies import AgentReplies, ToolLoopOptions
from graphflow.agent.stages import AgentStages, StageSet
from graphflow.agent.testing import RunResult, TurnEvent, from_session_event
from graphflow.agent.tool_context import RunContext
from graphflow.conversation.chat import ChatContext
from graphflow.conversation.events import (
    AgentHandoff,
    AgentMessage,
    FunctionCalls,
    FunctionOutput,
    SessionEvent,
)
from graphflow.conversation.model import ChatModel
from graphflow.errors import ConfigError, GraphflowError
from graphflow.frames import EndOfTurn, Frame, ReplyEnd, ToolCall, TurnKind
from graphflow.graph import Graph
from graphflow.node import Node
from graphflow.ports import Input, Output
from graphflow.runtime.clock import Clock, RealtimeClock
from graphflow.runtime.events import NodeEvent, RunEvent
from graphflow.runtime.runner import GraphRunner
from graphflow.runtime.wiring import RunOptions
from nodes.llm.base import LLMNode

TURN_TIMEOUT_S = 60.0
"""How long one turn may take before ``run`` gives up."""


class TurnInput(Node):
    """Sends the turns a program puts in (a bounded queue); ends when told to."""

    out = Output(EndOfTurn)

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.queue: asyncio.Queue[EndOfTurn | None] = asyncio.Queue(16)

    async def run(self) -> None:
        """Forward queued turns until ``None``."""
        while (turn := await self.queue.get()) is not None:
            await self.out.send(turn)


class ReplyCollector(Node):
    """Receives replies; calls ``deliver`` with each ``ReplyEnd``."""

    inp = Input(Frame)

    def __init__(self, deliver: Callable[[ReplyEnd], None], *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.deliver = deliver

    def on_frame(self, frame: Frame) -> None:
        """Pass the end of each reply on."""
        if isinstance(frame, ReplyEnd):
            self.deliver(frame)


class TextSession:
    """An agent in conversation by text: ``run(user_input)`` returns that turn's events."""

    def __init__(
        self,
        agent: Agent,
        *,
        llm: LLMNode | None = None,
        userdata: Any = None,
        tool_loop: ToolLoopOptions | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.agent = agent
        self.userdata = userdata
        self.chat = ChatContext(agent.instructions)
        if llm is None:
            from nodes.llm.local import LocalResponder, LocalResponderOptions

            llm = LocalResponder(LocalResponderOptions(ttft_ms=0, tokens_per_second=0), name="model")
        own = agent.llm if isinstance(agent.llm, LLMNode) else None
        self.replies = AgentReplies(self, tool_loop)
        """The tool loop, handoffs and the rest, as in a voice session."""
        self.llm = LLMNode(name="llm", replies=self.replies, model=own or llm)
        """The language-model stage; it streams from the agent's own model, or ``llm``."""
        self.stages = AgentStages(StageSet(llm=self.llm), StageSet(llm=llm if own is not None else None))
        """The model an agent handed to brings (its ``llm``) answers through the session's LLM stage."""
        self.clock = clock or RealtimeClock()
        self._input = TurnInput(name="turns")
        self._events: list[TurnEvent] = []
        self._waiter: asyncio.Future[ReplyEnd] | None = None
        self._runner: GraphRunner | None = None
        self._task: asyncio.Task[None] | None = None
        self._turns = 0
        self._starting = False

    # ------------------------------------------------------------- lifetime
    async def start(self) -> RunResult:
        """Start the graph and enter the agent; returns what ``on_enter`` caused."""
        g = Graph("text_session")
        g.chain(self._input, self.llm, ReplyCollector(self._on_reply, name="replies"))
        self._runner = g.compile().runner(RunOptions(clock=self.clock, observers=(self,)))
        self._task = asyncio.ensure_future(self._runner.run())
        self._events = []
        agent = self.agent
        agent.session = self
        self._starting = True
        try:  # as a step of the task runner: on_enter may await a task that waits for the user
            await self.replies.tasks.run_hook(agent.on_enter(), "on_enter")
        finally:
            self._starting = False
        return self._result()

    async def aclose(self) -> None:
        """End the tasks in charge, exit the agent and stop the graph."""
        await self.replies.tasks.close()
        with contextlib.suppress(Exception):
            await self.agent.on_exit()
        if self._task is not None:
            await self._input.queue.put(None)
            try:
                await asyncio.wait_for(self._task, 10)
            finally:
                self._task = None
                await self.stages.close()

    async def __aenter__(self) -> TextSession:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ turns
    async def run(self, user_input: str) -> RunResult:
        """The user says ``user_input``; returns the events of the agent's answer."""
        self._events = [from_session_event(AgentMessage(at=0, reply_id="", text=user_input), role="user")]
        return await self._turn(user_input, TurnKind.TYPED)

    async def generate_reply(self, instructions: str = "") -> RunResult:
        """Ask the agent for a reply now (``instructions`` apply to this reply only).

        Called while a reply is being made (from ``on_enter`` during a handoff, say), the
        instructions join the conversation and that reply's next step answers them.
        """
        if self._waiter is not None and not self._waiter.done():
            if instructions:
                self.chat.add("system", instructions)
            return RunResult([])
        if self._starting:  # from on_enter: its events are what ``start`` returns
            await self._turn(instructions, TurnKind.GENERATE, keep=True)
            return RunResult([])
        self._events = []
        return await self._turn(instructions, TurnKind.GENERATE)

    async def say(self, text: str) -> RunResult:
        """The agent says ``text`` as it is (no model call)."""
        self.chat.add("assistant", text)
        self._events = [from_session_event(AgentMessage(at=0, reply_id="say", text=text))]
        return self._result()

    async def update_agent(self, agent: Agent) -> None:
        """Hand the conversation to ``agent``: its instructions and tools from the next step on."""
        await hand_over(self, agent)

    def replace_tool(self, name: str, stand_in: Callable[..., Any]) -> None:
        """Run ``stand_in`` instead of the current agent's tool ``name`` (same name and schema)."""
        self.agent.tools = self.agent.tools.replace(name, stand_in)

    # ---------------------------------------------------------------- helpers
    async def _turn(self, text: str, kind: TurnKind, *, keep: bool = False) -> RunResult:
        if self._task is None:
            raise ConfigError("the text session is not started", hint="use `async with TextSession(agent)`")
        if self._task.done():
            self._task.result()
            raise GraphflowError("the text session's graph has stopped", code="session.stopped")
        self._turns += 1
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        await self._input.queue.put(EndOfTurn(text=text, kind=kind, created=self.clock.now()))
        watched: list[asyncio.Future[Any]] = [self._waiter, self._task]
        done, _ = await asyncio.wait(watched, timeout=TURN_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
        if self._waiter not in done:
            if self._task in done:
                self._task.result()
            raise GraphflowError(f"no reply within {TURN_TIMEOUT_S:.0f} s", code="session.timeout")
        end = self._waiter.result()
        if end.error:
            self._events.append(
                from_session_event(AgentMessage(at=0, reply_id=end.reply_id, text=end.error), role="error")
            )
        return RunResult([]) if keep else self._result()

    def _result(self) -> RunResult:
        events, self._events = self._events, []
        return RunResult(events)

    def _on_reply(self, end: ReplyEnd) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(end)

    @property
    def fragments(self) -> Fragments | None:
        """None: typed messages are never joined."""
        return None

    def llm_provider(self) -> ChatModel | None:
        """The model the agent in charge brought after a handoff (None: the stage's own)."""
        provider = self.stages.provider("llm")
        return provider if isinstance(provider, LLMNode) else None

    def on_event(self, event: RunEvent) -> None:
        """The run's events: what the replies published becomes this turn's events."""
        if isinstance(event, NodeEvent) and isinstance(event.payload, SessionEvent):
            self._on_event(event.payload)

    def _on_event(self, event: SessionEvent) -> None:
        if isinstance(event, AgentMessage):
            self.chat.add("assistant", event.text)
        if isinstance(event, FunctionCalls):
            self._events.extend(from_session_event(event, call=c) for c in event.calls)
        elif isinstance(event, AgentMessage | FunctionOutput | AgentHandoff):
            self._events.append(from_session_event(event))

    def tool_context(self, call: ToolCall) -> RunContext:
        """A tool's context; nothing is played in a text session, so waiting for playout returns at once."""
        return RunContext(session=self, userdata=self.userdata, call=call)
