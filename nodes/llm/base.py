"""What every language-model node shares: EndOfTurn in, streamed reply out, tools run, errors survived.

A reply may take several steps: when the model asks for tool calls, the node runs
them (concurrently), appends the calls and their results to the chat context and asks
the model again, until it answers without calls, a tool stops the reply, or
``ToolLoopOptions.max_steps`` is reached. Every step's text streams out under the same
``reply_id``, so the listener hears one reply. A tool that returns another
:class:`~graphflow.agent.agent.Agent` hands the conversation over: the node switches to
that agent's tools and instructions (through ``on_handoff``) before the next step.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING

import msgspec

from graphflow.agent.chat import ChatContext
from graphflow.agent.control import GENERATE, PREEMPTIVE, SAY
from graphflow.agent.events import (
    AgentHandoff,
    AgentMessage,
    FunctionCalls,
    FunctionOutput,
    SessionEvent,
    UserTurnJoined,
)
from graphflow.agent.fragments import Fragments, Joined
from graphflow.agent.tool_context import RunContext
from graphflow.agent.tools import StopResponse, run_calls
from graphflow.errors import ProviderError
from graphflow.frames import EndOfTurn, Frame, ReplyDelta, ReplyEnd, ToolCall
from graphflow.node import Node
from graphflow.ports import Input, Output
from graphflow.runtime.stats import LatencyStats
from nodes.llm.early import EarlyReply

if TYPE_CHECKING:
    from graphflow.agent.agent import Agent


INTERRUPTED = "the call was cancelled: the user interrupted before it finished"
"""The output recorded for a call cut short by a barge-in."""


class Chunk:
    """One piece of a streamed reply: text, or a finished tool call."""

    __slots__ = ("text", "tool_call")

    def __init__(self, text: str = "", tool_call: ToolCall | None = None) -> None:
        self.text = text
        self.tool_call = tool_call


class Replying:
    """The reply an LLM node is streaming: its id, the turn it answers, its text so far, marks sent."""

    __slots__ = ("marks", "parts", "reply_id", "turn")

    def __init__(self, reply_id: str, turn: EndOfTurn, parts: list[str]) -> None:
        self.reply_id, self.turn, self.parts = reply_id, turn, parts
        self.marks = 0


class ToolLoopOptions(msgspec.Struct, frozen=True):
    """How tool calls are run: at most ``max_steps`` model calls per reply, in parallel, with a timeout."""

    max_steps: int = 5
    parallel: bool = True
    timeout_s: float = 10.0


class LLMNode(Node):
    """Answers each user turn by streaming ``ReplyDelta`` frames and a closing ``ReplyEnd``.

    Providers implement :meth:`stream`. The user's words are added to the chat context
    the node shares with its session; a provider failure is reported to the run's
    observers and closes the reply with ``error`` set, and the session goes on.
    """

    inp = Input(EndOfTurn)
    out = Output[Frame](ReplyDelta | ReplyEnd)

    def __init__(
        self, options: object = None, *, name: str | None = None, chat: ChatContext | None = None
    ) -> None:
        super().__init__(options, name=name)  # type: ignore[arg-type]
        self.chat = chat or ChatContext()
        self._ids = itertools.count(1)
        self.first_token = LatencyStats(keep=10_000)
        self.agent: Agent | None = None
        """The agent whose tools and rules the replies use (set by the session)."""
        self.tool_loop = ToolLoopOptions()
        self.context_factory: Callable[[ToolCall], RunContext | None] | None = None
        """Makes the RunContext of each tool call (the session sets it)."""
        self.on_handoff: Callable[[Agent], Awaitable[None]] | None = None
        """Called when a tool hands the conversation to another agent (the session sets it)."""
        self.busy = False
        """True while a turn is being answered."""
        self.early: EarlyReply | None = None
        """A reply being generated for a tentative turn (preemptive generation)."""
        self.early_started = 0
        self.early_used = 0
        """Preemptive generations started, and those the confirmed turn used."""
        self.listeners: list[Callable[[SessionEvent], None]] = []
        """Told about tool calls, their outputs and handoffs as they happen."""
        self.provider: LLMNode | None = None
        """Another LLM node whose ``stream`` answers instead of this one's (an agent's own model)."""
        self.replying: Replying | None = None
        """The reply being streamed now (its id, and the text sent so far)."""
        self.withdrawn: set[str] = set()
        """Ids of requested replies withdrawn before they started (their turns are skipped)."""
        self.fragments: Fragments | None = None
        """Joins a user message to the previous one when its reply was cut unheard (the session sets it)."""

    def stream(self, chat: ChatContext) -> AsyncGenerator[Chunk, None]:
        """Stream the reply to the conversation in ``chat`` (provider-specific)."""
        raise NotImplementedError

    def _stream(self, chat: ChatContext) -> AsyncGenerator[Chunk, None]:
        """The stream of whichever model answers now: the provider's, or this node's own."""
        provider = self.provider
        if provider is None:
            return self.stream(chat)
        provider.chat, provider.agent = self.chat, self.agent
        return provider.stream(chat)

    async def mark(self) -> tuple[str, int] | None:
        """Send a playout mark after the text of the reply so far: ``(reply_id, mark)``.

        None when no reply is being streamed or it has said nothing yet (nothing to hear).
        """
        replying = self.replying
        if replying is None or not replying.parts:
            return None
        replying.marks += 1
        turn = replying.turn
        await self.out.send(
            ReplyDelta(
                text="",
                reply_id=replying.reply_id,
                mark=replying.marks,
                pts=turn.pts,
                created=self.now(),
                generation=turn.generation,
            )
        )
        return replying.reply_id, replying.marks

    async def on_frame(self, turn: EndOfTurn) -> None:
        """Answer ``turn``; a ``GENERATE`` turn asks for a reply without user words."""
        self.busy = True
        try:
            await self._answer(turn)
        finally:
            self.busy = False

    async def _answer(self, turn: EndOfTurn) -> None:
        if turn.reply_id in self.withdrawn:
            self.withdrawn.discard(turn.reply_id)
            return
        text = turn.text.strip()
        if turn.reason == PREEMPTIVE:
            self._start_early(text)
            return
        early, self.early = self.early, None
        joined = self._join(text) if turn.reason not in (SAY, GENERATE) and text else None
        said = joined.text if joined is not None else text
        if early is not None and (turn.reason == SAY or early.text != said):
            early.cancel()
            early = None
        if turn.reason == SAY:
            await self.say(turn, self._replying(turn))
            return
        if turn.reason == GENERATE:
            if text:  # instructions for this reply only
                self.chat.add("system", text, at=turn.created)
        elif text:
            if not await self._add_user(turn, text, joined):
                return
        else:
            return
        await self.reply(turn, self._replying(turn), early=early)

    def _reply_id(self, turn: EndOfTurn) -> str:
        return turn.reply_id or f"r{turn.generation}-{next(self._ids)}"

    def _replying(self, turn: EndOfTurn) -> str:
        """The id of the reply to ``turn``, which the fragments now follow."""
        reply_id = self._reply_id(turn)
        if self.fragments is not None:
            self.fragments.replying(reply_id, turn.generation)
        return reply_id

    def _join(self, text: str, chat: ChatContext | None = None) -> Joined | None:
        """Take an open user message out of ``chat`` (the history) to join ``text`` to it, if there is one."""
        fragments = self.fragments
        return fragments.join(self.chat if chat is None else chat, text) if fragments is not None else None

    async def _add_user(self, turn: EndOfTurn, text: str, joined: Joined | None) -> bool:
        """Add the user's words (joined to an open message) after the agent's hook; False: no answer."""
        try:
            said = await self._turn_completed(joined.text if joined is not None else text)
        except BaseException as exc:
            if joined is not None:
                joined.undo(self.chat)
            if isinstance(exc, StopResponse):
                if self.fragments is not None:
                    self.fragments.close()
                return False
            raise
        message = self.chat.add("user", said, at=turn.created)
        if self.fragments is not None:
            self.fragments.said(joined.parts if joined is not None else (text,), message.content)
        if joined is not None:
            self._tell(UserTurnJoined(at=self.now(), text=said, parts=joined.parts))
        return True

    async def say(self, turn: EndOfTurn, reply_id: str) -> None:
        """Speak ``turn.text`` as it is: one reply, no model call."""
        text = turn.text.strip()
        if text:
            now = self.now()
            await self.out.send(
                ReplyDelta(
                    text=text, reply_id=reply_id, pts=turn.pts, created=now, generation=turn.generation
                )
            )
            self._tell(AgentMessage(at=now, reply_id=reply_id, text=text))
        await self.out.send(
            ReplyEnd(
                reply_id=reply_id, text=text, pts=turn.pts, created=self.now(), generation=turn.generation
            )
        )

    def on_cancel(self, info: object) -> object:
        """A barge-in: drop a reply generated ahead of its turn."""
        early, self.early = self.early, None
        if early is not None:
            early.cancel()
        return None

    def _start_early(self, text: str) -> None:
        """Start generating for a tentative turn (unless hooks may rewrite it, or it is already running)."""
        chat = self.chat.copy()
        joined = self._join(text, chat) if text else None
        text = joined.text if joined is not None else text
        if self.early is not None:
            if self.early.text == text:
                return
            self.early.cancel()
            self.early = None
        agent = self.agent
        from graphflow.agent.agent import Agent

        if not text or (
            agent is not None and type(agent).on_user_turn_completed is not Agent.on_user_turn_completed
        ):
            return  # the agent may change the words: wait for the real turn
        early = EarlyReply(text, self._stream, chat)
        early.task = self.spawn(early.run(), "early-reply")
        self.early = early
        self.early_started += 1

    async def reply(self, turn: EndOfTurn, reply_id: str, early: EarlyReply | None = None) -> None:
        """Stream one reply (with its tool steps) and close it with ``ReplyEnd``.

        ``early``: a generation already running for these words (its chunks come first).
        """
        parts: list[str] = []
        calls_made: list[ToolCall] = []
        error = ""
        final_text = ""
        started = self.now()
        self.replying = Replying(reply_id, turn, parts)
        try:
            for step in range(self.tool_loop.max_steps + 1):
                source = early.replay() if early is not None and step == 0 else self._stream(self.chat)
                if early is not None and step == 0:
                    self.early_used += 1
                step_text, calls = await self._step(turn, reply_id, parts, started, source)
                if not calls:
                    final_text = step_text
                    break
                calls_made.extend(calls)
                if self.agent is None:
                    break  # no agent, no tools to run: the calls are only reported in ReplyEnd
                if step == self.tool_loop.max_steps:
                    raise ProviderError(
                        f"the model still asked for tools after {self.tool_loop.max_steps} steps",
                        hint="raise ToolLoopOptions.max_steps, or check the tools' answers",
                    )
                if not await self._run_tools(reply_id, step_text, calls):
                    break
        except ProviderError as exc:
            self.report(exc)
            error = str(exc)
        finally:
            self.replying = None
        if final_text and not error:
            self._tell(AgentMessage(at=self.now(), reply_id=reply_id, text=final_text))
        await self.out.send(
            ReplyEnd(
                reply_id=reply_id,
                text="".join(parts),
                tool_calls=tuple(calls_made),
                error=error,
                pts=turn.pts,
                created=self.now(),
                generation=turn.generation,
            )
        )

    # ------------------------------------------------------------------ steps
    async def _step(
        self,
        turn: EndOfTurn,
        reply_id: str,
        parts: list[str],
        started: int,
        source: AsyncGenerator[Chunk, None],
    ) -> tuple[str, list[ToolCall]]:
        """One model call (``source``: its chunks): stream its text out, collect the calls it asks for."""
        calls: list[ToolCall] = []
        texts: list[str] = []
        async with contextlib.aclosing(source) as chunks:
            async for chunk in chunks:
                if chunk.tool_call is not None:
                    calls.append(chunk.tool_call)
                if not chunk.text:
                    continue
                if not parts:
                    self.first_token.add(self.now() - started)
                parts.append(chunk.text)
                texts.append(chunk.text)
                delta = ReplyDelta(
                    text=chunk.text,
                    reply_id=reply_id,
                    pts=turn.pts,
                    created=self.now(),
                    generation=turn.generation,
                )
                await self.out.send(delta)
        return "".join(texts), calls

    async def _run_tools(self, reply_id: str, text: str, calls: list[ToolCall]) -> bool:
        """Run ``calls``; False when the reply must end here (a tool stopped it)."""
        self.chat.add_tool_calls(calls, text, at=self.now())
        self._tell(FunctionCalls(at=self.now(), reply_id=reply_id, calls=tuple(calls), text=text))
        assert self.agent is not None  # without an agent the calls are only reported
        loop = self.tool_loop
        try:
            results = await run_calls(
                self.agent.tools,
                calls,
                self.context_factory,
                timeout_s=loop.timeout_s,
                parallel=loop.parallel,
            )
        except asyncio.CancelledError:
            # interrupted while the tools ran: the history must still answer every call
            for call in calls:
                self._output(reply_id, call.id, call.name, INTERRUPTED, is_error=True)
            raise
        for result in results:
            self._output(reply_id, result.call_id, result.name, result.output, is_error=result.is_error)
        go_on = not any(result.stop for result in results)
        for result in results:
            if result.handoff is not None:
                await self._hand_over(result.handoff)
        return go_on

    def _output(self, reply_id: str, call_id: str, name: str, output: str, *, is_error: bool) -> None:
        """Record a call's output in the history and tell the listeners."""
        now = self.now()
        self.chat.add_tool_output(call_id, name, output, is_error=is_error, at=now)
        self._tell(
            FunctionOutput(
                at=now, reply_id=reply_id, call_id=call_id, name=name, output=output, is_error=is_error
            )
        )

    async def _hand_over(self, target: object) -> None:
        """Switch to the agent a tool returned; the history records whether the handoff was done."""
        from graphflow.agent.agent import Agent

        if not isinstance(target, Agent):
            return
        before = self.agent.name if self.agent is not None else ""
        done = False
        try:
            if self.on_handoff is not None:
                await self.on_handoff(target)
            else:  # no session around this node: switch here
                self.agent = target
                self.chat.messages[:] = self.chat.with_instructions(target.instructions).messages
            done = True
        except Exception as exc:
            self.report(ProviderError(f"handoff to {target.name} failed: {type(exc).__name__}: {exc}"))
        finally:  # an interrupted handoff (barge-in) is recorded as not done too
            self.chat.add_handoff(before, target.name, done=done, at=self.now())
            self._tell(AgentHandoff(at=self.now(), from_agent=before, to_agent=target.name, done=done))

    async def _turn_completed(self, text: str) -> str:
        agent = self.agent
        if agent is None:
            return text
        edited = await agent.on_user_turn_completed(self.chat, text)
        return text if edited is None else edited

    def _tell(self, event: SessionEvent) -> None:
        for listener in self.listeners:
            listener(event)
