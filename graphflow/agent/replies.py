"""An agent's replies: the tool loop, handoffs, early replies, withdrawn requests and joined fragments.

A session gives :class:`AgentReplies` to its language-model stage when it builds it;
the stage hands it every turn (see :mod:`graphflow.conversation.replies`). A reply may
take several steps: when the model asks for tool calls, they run (concurrently), the
calls and their results go into the history and the model is asked again, until it
answers without calls, a tool stops the reply, or ``ToolLoopOptions.max_steps`` is
reached. Every step's text streams out under the same ``reply_id``, so the listener hears
one reply. A tool that returns another :class:`~graphflow.agent.agent.Agent` hands the
conversation over (through the host's ``update_agent``) before the next step. The calls
run as a step of the :class:`~graphflow.agent.task_runner.TaskRunner`, so a tool that
awaits a task lets the reply go on under the task (see that module).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Protocol

import msgspec

from graphflow.agent.early import EarlyReply
from graphflow.agent.fragments import Fragments, Joined
from graphflow.agent.task_runner import TaskRunner
from graphflow.agent.tool_context import RunContext
from graphflow.agent.tools import StopResponse, run_calls
from graphflow.conversation.chat import ChatContext
from graphflow.conversation.events import (
    AgentHandoff,
    AgentMessage,
    FunctionCalls,
    FunctionOutput,
    UserTurnJoined,
)
from graphflow.conversation.model import ChatModel, Chunk, ModelTools
from graphflow.conversation.replies import ReplyChannel, stream_step
from graphflow.errors import ProviderError
from graphflow.frames import EndOfTurn, ToolCall, TurnKind

if TYPE_CHECKING:
    from graphflow.agent.agent import Agent

INTERRUPTED = "the call was cancelled: the user interrupted before it finished"
"""The output recorded for a call cut short by a barge-in."""


class ToolLoopOptions(msgspec.Struct, frozen=True):
    """How tool calls are run: at most ``max_steps`` model calls per reply, in parallel, with a timeout."""

    max_steps: int = 5
    parallel: bool = True
    timeout_s: float = 10.0


class ReplyHost(Protocol):
    """What the replies need from their session: its history, agent, fragments, tools' context, handoffs."""

    chat: ChatContext
    agent: Agent

    @property
    def fragments(self) -> Fragments | None:
        """Follows whether the user's latest message is open (None: never join messages)."""
        ...

    def tool_context(self, call: ToolCall) -> RunContext:
        """The context a tool call runs with."""
        ...

    async def update_agent(self, agent: Agent) -> None:
        """Hand the conversation to ``agent``."""
        ...

    def llm_provider(self) -> ChatModel | None:
        """The model the agent in charge brought (None: the stage's own)."""
        ...


class Replying:
    """The reply being streamed now: its id, its turn's channel, its text so far, marks sent."""

    __slots__ = ("channel", "marks", "parts", "reply_id")

    def __init__(self, reply_id: str, channel: ReplyChannel, parts: list[str]) -> None:
        self.reply_id, self.channel, self.parts = reply_id, channel, parts
        self.marks = 0

    @property
    def turn(self) -> EndOfTurn:
        """The turn this reply answers."""
        return self.channel.turn


class AgentReplies:
    """Answers turns for an agent session (see the module docstring)."""

    def __init__(self, host: ReplyHost, tool_loop: ToolLoopOptions | None = None) -> None:
        self.host = host
        self.tool_loop = tool_loop or ToolLoopOptions()
        self.busy = False
        """True while a turn is being answered."""
        self.replying: Replying | None = None
        """The reply being streamed now (its id, and the text sent so far)."""
        self.early: EarlyReply | None = None
        """A reply being generated for a tentative turn (preemptive generation)."""
        self.early_started = 0
        self.early_used = 0
        """Preemptive generations started, and those the confirmed turn used."""
        self._withdrawn: set[str] = set()
        self.tasks = TaskRunner(host)
        """Owns tool calls that await tasks, and the tasks in charge (:mod:`graphflow.agent.task_runner`)."""

    # ------------------------------------------------------------ the host's side
    def withdraw(self, reply_id: str) -> None:
        """Skip the requested reply ``reply_id`` when its turn arrives (it was interrupted while waiting)."""
        self._withdrawn.add(reply_id)

    async def mark(self) -> tuple[str, int] | None:
        """Send a playout mark after the text of the reply so far: ``(reply_id, mark)``.

        None when no reply is being streamed or it has said nothing yet (nothing to hear).
        """
        replying = self.replying
        if replying is None or not replying.parts:
            return None
        replying.marks += 1
        await replying.channel.mark(replying.reply_id, replying.marks)
        return replying.reply_id, replying.marks

    def interrupted(self) -> None:
        """A barge-in: drop a reply generated ahead of its turn."""
        early, self.early = self.early, None
        if early is not None:
            early.cancel()

    # ------------------------------------------------------------------- a turn
    async def answer(self, channel: ReplyChannel) -> None:
        """Answer ``channel.turn``; a ``GENERATE`` turn asks for a reply without user words."""
        self.busy = True
        try:
            await self._answer(channel)
        finally:
            self.busy = False

    async def _answer(self, channel: ReplyChannel) -> None:
        turn = channel.turn
        if turn.reply_id in self._withdrawn:
            self._withdrawn.discard(turn.reply_id)
            return
        text = turn.text.strip()
        if turn.kind == TurnKind.PREEMPTIVE:
            self._start_early(channel, text)
            return
        early, self.early = self.early, None
        joined = self._join(text) if turn.kind not in (TurnKind.SAY, TurnKind.GENERATE) and text else None
        said = joined.text if joined is not None else text
        if early is not None and (turn.kind == TurnKind.SAY or early.text != said):
            early.cancel()
            early = None
        if turn.kind == TurnKind.SAY:
            await self._say(channel, self._replying(channel))
            return
        chat = self.host.chat
        if turn.kind == TurnKind.GENERATE:
            if text:  # instructions for this reply only
                chat.add("system", text, at=turn.created)
        elif text:
            if not await self._add_user(channel, text, joined):
                return
        else:
            return
        await self._reply(channel, self._replying(channel), early)

    def _replying(self, channel: ReplyChannel) -> str:
        """The id of the reply to the channel's turn, which the fragments now follow."""
        reply_id = channel.reply_id()
        if self.host.fragments is not None:
            self.host.fragments.replying(reply_id, channel.turn.generation)
        return reply_id

    def _join(self, text: str, chat: ChatContext | None = None) -> Joined | None:
        """Take an open user message out of ``chat`` (the history) to join ``text`` to it, if there is one."""
        fragments = self.host.fragments
        if fragments is None:
            return None
        return fragments.join(self.host.chat if chat is None else chat, text)

    async def _add_user(self, channel: ReplyChannel, text: str, joined: Joined | None) -> bool:
        """Add the user's words (joined to an open message) after the agent's hook; False: no answer."""
        chat, fragments = self.host.chat, self.host.fragments
        try:
            said = await self._turn_completed(joined.text if joined is not None else text)
        except BaseException as exc:
            if joined is not None:
                joined.undo(chat)
            if isinstance(exc, StopResponse):
                if fragments is not None:
                    fragments.close()
                return False
            raise
        message = chat.add("user", said, at=channel.turn.created)
        if fragments is not None:
            fragments.said(joined.parts if joined is not None else (text,), message.content)
        if joined is not None:
            channel.publish(UserTurnJoined(at=channel.now(), text=said, parts=joined.parts))
        return True

    async def _say(self, channel: ReplyChannel, reply_id: str) -> None:
        """Speak the turn's text as it is: one reply, no model call."""
        text = channel.turn.text.strip()
        if text:
            await channel.text(reply_id, text, from_model=False)
            channel.publish(AgentMessage(at=channel.now(), reply_id=reply_id, text=text))
        await channel.end(reply_id, text)

    def _model(self, channel: ReplyChannel) -> ChatModel:
        """The model that answers now: the one the agent in charge brought, or the stage's own."""
        return self.host.llm_provider() or channel.model

    def _tools(self) -> ModelTools:
        agent = self.host.agent
        return ModelTools(schemas=tuple(agent.tools.schemas()), rules=agent.rules)

    def _stream(self, channel: ReplyChannel, chat: ChatContext) -> AsyncGenerator[Chunk, None]:
        return self._model(channel).stream(self.tasks.view(chat), self._tools())

    def _start_early(self, channel: ReplyChannel, text: str) -> None:
        """Start generating for a tentative turn (unless hooks may rewrite it, or it is already running)."""
        chat = self.host.chat.copy()
        joined = self._join(text, chat) if text else None
        text = joined.text if joined is not None else text
        if self.early is not None:
            if self.early.text == text:
                return
            self.early.cancel()
            self.early = None
        from graphflow.agent.agent import Agent

        if not text or type(self.host.agent).on_user_turn_completed is not Agent.on_user_turn_completed:
            return  # the agent may change the words: wait for the real turn
        early = EarlyReply(text, lambda c: self._stream(channel, c), chat)
        early.task = channel.spawn(early.run(), "early-reply")
        self.early = early
        self.early_started += 1

    async def _reply(self, channel: ReplyChannel, reply_id: str, early: EarlyReply | None) -> None:
        """Stream one reply (with its tool steps) and close it with ``ReplyEnd``.

        ``early``: a generation already running for these words (its chunks come first).
        """
        parts: list[str] = []
        calls_made: list[ToolCall] = []
        error = ""
        final_text = ""
        chat = self.host.chat
        self.replying = Replying(reply_id, channel, parts)
        try:
            for step in range(self.tool_loop.max_steps + 1):
                first = early is not None and step == 0
                source = early.replay() if early is not None and first else self._stream(channel, chat)
                if first:
                    self.early_used += 1
                step_text, calls = await stream_step(channel, reply_id, parts, source)
                if not calls:
                    final_text = step_text
                    break
                calls_made.extend(calls)
                if step == self.tool_loop.max_steps:
                    raise ProviderError(
                        f"the model still asked for tools after {self.tool_loop.max_steps} steps",
                        hint="raise ToolLoopOptions.max_steps, or check the tools' answers",
                    )
                if not await self._run_tools(channel, reply_id, step_text, calls):
                    break
        except ProviderError as exc:
            channel.report(exc)
            error = str(exc)
        finally:
            self.replying = None
        if final_text and not error:
            channel.publish(AgentMessage(at=channel.now(), reply_id=reply_id, text=final_text))
        await channel.end(reply_id, "".join(parts), calls_made, error)

    # ------------------------------------------------------------------ tools
    async def _run_tools(
        self, channel: ReplyChannel, reply_id: str, text: str, calls: list[ToolCall]
    ) -> bool:
        """Run ``calls``; False when the reply must end here (a tool stopped it)."""
        chat = self.host.chat
        chat.add_tool_calls(calls, text, at=channel.now())
        channel.publish(FunctionCalls(at=channel.now(), reply_id=reply_id, calls=tuple(calls), text=text))
        # the calls run as a step the task runner owns: a call that awaits a task is suspended
        # there while the reply goes on under the task (see graphflow.agent.task_runner)
        self.tasks.woken_results()  # what earlier replies left behind is not this reply's
        step = self.tasks.start(self._tool_step(channel, reply_id, calls), channel, f"tools {reply_id}")
        try:
            await self.tasks.settle(step, self.tool_loop.timeout_s)
        except asyncio.CancelledError:
            await self.tasks.cancel(step)
            raise
        woken = self.tasks.woken_results()  # callers that resumed: one may have stopped the reply
        if step.state != "done" or step.task is None:
            return False not in woken  # a task is in charge now: the reply goes on with it
        return step.task.result() and False not in woken

    async def _tool_step(self, channel: ReplyChannel, reply_id: str, calls: list[ToolCall]) -> bool:
        """Run ``calls`` and record their outputs and handoffs; False when a tool stopped the reply."""
        loop = self.tool_loop
        try:
            results = await run_calls(
                self.host.agent.tools,
                calls,
                self.host.tool_context,
                timeout_s=loop.timeout_s,
                parallel=loop.parallel,
            )
        except asyncio.CancelledError:
            # interrupted while the tools ran: the history must still answer every call
            for call in calls:
                self._output(channel, reply_id, call.id, call.name, INTERRUPTED, is_error=True)
            raise
        for result in results:
            self._output(
                channel, reply_id, result.call_id, result.name, result.output, is_error=result.is_error
            )
        go_on = not any(result.stop for result in results)
        for result in results:
            if result.handoff is not None:
                await self._hand_over(channel, result.handoff)
        return go_on

    def _output(
        self, channel: ReplyChannel, reply_id: str, call_id: str, name: str, output: str, *, is_error: bool
    ) -> None:
        """Record a call's output in the history and tell the observers."""
        now = channel.now()
        self.host.chat.add_tool_output(call_id, name, output, is_error=is_error, at=now)
        channel.publish(
            FunctionOutput(
                at=now, reply_id=reply_id, call_id=call_id, name=name, output=output, is_error=is_error
            )
        )

    async def _hand_over(self, channel: ReplyChannel, target: object) -> None:
        """Switch to the agent a tool returned; the history records whether the handoff was done."""
        from graphflow.agent.agent import Agent

        if not isinstance(target, Agent):
            return
        for frame in reversed(list(self.tasks.active)):  # a handoff ends the tasks in charge
            frame.task.abandon(f"the conversation was handed over to {target.name}")
        before = self.host.agent.name
        done = False
        try:
            await self.host.update_agent(target)
            done = True
        except Exception as exc:
            channel.report(ProviderError(f"handoff to {target.name} failed: {type(exc).__name__}: {exc}"))
        finally:  # an interrupted handoff (barge-in) is recorded as not done too
            self.host.chat.add_handoff(before, target.name, done=done, at=channel.now())
            channel.publish(
                AgentHandoff(at=channel.now(), from_agent=before, to_agent=target.name, done=done)
            )

    async def _turn_completed(self, text: str) -> str:
        edited = await self.host.agent.on_user_turn_completed(self.host.chat, text)
        return text if edited is None else edited
