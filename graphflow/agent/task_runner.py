"""Who owns code that awaits a task: a session's steps, the tasks in charge, and the model's view.

A reply runs its tool calls as a *step*, an asyncio task the runner owns. When a tool
awaits an :class:`~graphflow.agent.task.AgentTask`, the step enters it (the task becomes
the agent in charge and its ``on_enter`` runs) and is then *suspended*: the reply goes on
without it, under the task, and ends; the user's next turns reach the task. When one of
the task's tools completes it, the tools of that step finish first, then the task leaves
(the history keeps the caller's view), and the suspended step wakes up; the reply that
completed the task waits for the woken step to finish or to enter the next task, so the
caller answers in the same reply. A barge-in cancels only the reply's own running step;
suspended steps belong to the runner, which abandons their tasks and cancels them when the
session ends (:meth:`TaskRunner.close`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Coroutine
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from graphflow.agent.deadline import paused_deadline
from graphflow.agent.task import AgentTask, Outcome, TaskAbandoned
from graphflow.agent.tools import ToolError
from graphflow.conversation.chat import ChatContext, ChatMessage
from graphflow.conversation.events import AgentHandoff
from graphflow.conversation.replies import ReplyChannel
from graphflow.errors import ConfigError

if TYPE_CHECKING:
    from graphflow.agent.agent import Agent

R = TypeVar("R")
T = TypeVar("T")
log = logging.getLogger(__name__)
CLOSE_GRACE_S = 1.0
"""How long a closing runner lets awaiting code react to :class:`TaskAbandoned` before cancelling it."""


class TaskHost(Protocol):
    """What the runner needs from its session: the history and the agent in charge."""

    chat: ChatContext
    agent: Agent


class Step(Generic[R]):
    """Work the runner owns: ``running``, ``suspended`` (awaiting a task) or ``done``."""

    __slots__ = ("channel", "finishing", "runner", "state", "task", "woken")

    def __init__(self, runner: TaskRunner, channel: ReplyChannel | None) -> None:
        self.runner, self.channel = runner, channel
        self.state = "running"
        self.woken = False
        """Resumed by a task's end: the reply that ended the task waits for it."""
        self.finishing: list[tuple[Frame, Outcome]] = []
        """Tasks this step's tools completed, ended once its tools have finished."""
        self.task: asyncio.Task[R] | None = None


class Frame:
    """A task in charge: who called it, where its conversation starts, and the step awaiting it."""

    __slots__ = ("caller", "future", "marker", "step", "task")

    def __init__(self, task: AgentTask[Any], caller: Agent, marker: ChatMessage, step: Step[Any]) -> None:
        self.task, self.caller, self.marker, self.step = task, caller, marker, step
        self.future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()


_STEP: contextvars.ContextVar[Step[Any] | None] = contextvars.ContextVar("task_step", default=None)


def current_runner() -> TaskRunner:
    """The runner of the step this code runs in (a tool call or a hook the session runs)."""
    step = _STEP.get()
    if step is None:
        raise ConfigError(
            "a task can only be awaited from a tool or a hook the session runs",
            hint="await it in a @function_tool or in on_enter",
        )
    return step.runner


class TaskRunner:
    """Runs steps, keeps the stack of tasks in charge, and gives the model the active task's view."""

    def __init__(self, host: TaskHost) -> None:
        self.host = host
        self.active: list[Frame] = []
        """The tasks in charge, the innermost last."""
        self._steps: set[Step[Any]] = set()
        self._woken_done: list[Step[Any]] = []
        self._changed = asyncio.Event()
        self.closed = False
        """True once :meth:`close` began: no step may start."""

    # ------------------------------------------------------------------ steps
    def start(self, work: Coroutine[Any, Any, R], channel: ReplyChannel | None, name: str) -> Step[R]:
        """Run ``work`` as a step the runner owns (``channel``: the reply it serves, if any)."""
        if self.closed:
            work.close()
            raise ConfigError("the session has ended; no new step can start")
        step: Step[R] = Step(self, channel)
        context = contextvars.copy_context()
        context.run(_STEP.set, step)
        step.task = asyncio.get_running_loop().create_task(
            self._drive(step, work), name=name, context=context
        )
        self._steps.add(step)
        return step

    async def settle(self, step: Step[Any], patience_s: float | None = None) -> None:
        """Wait until ``step`` is suspended or done, and so is every step a task's end woke.

        The woken steps are waited for at most ``patience_s`` (None: as long as they take):
        one that waits for a reply to be heard would otherwise wait for the waiting reply.
        """
        while step.state == "running":
            await self._changed.wait()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(patience_s):
                while any(s.woken and s.state == "running" for s in self._steps):
                    await self._changed.wait()

    async def cancel(self, step: Step[Any]) -> None:
        """Cancel ``step`` if it is running (a barge-in); a suspended step is the runner's to keep."""
        if step.state == "running" and step.task is not None and not step.task.done():
            step.task.cancel()
            await asyncio.wait([step.task])

    async def run_hook(self, hook: Awaitable[None], name: str = "hook") -> None:
        """Run a hook (``on_enter``) as a step; return once it is done or waits on a task it started."""

        async def call() -> None:
            await hook

        step = self.start(call(), None, name)
        await self.settle(step)
        if step.state == "done" and step.task is not None:
            step.task.result()

    async def _drive(self, step: Step[R], work: Coroutine[Any, Any, R]) -> R:
        try:
            return await work
        finally:
            finishing, step.finishing = step.finishing, []
            for frame, outcome in finishing:
                self._end(frame, outcome)
            if step.woken:
                self._woken_done.append(step)
            step.state, step.woken = "done", False
            self._steps.discard(step)
            self._notify()

    def woken_results(self) -> list[object]:
        """What the steps a task's end woke returned since the last call (a failure is logged)."""
        done, self._woken_done = self._woken_done, []
        results: list[object] = []
        for task in (s.task for s in done if s.task is not None and not s.task.cancelled()):
            if task.exception() is not None:
                log.error("code awaiting a task failed", exc_info=task.exception())
            else:
                results.append(task.result())
        return results

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    # ------------------------------------------------------------------ tasks
    async def run_task(self, task: AgentTask[T]) -> T:
        """Put ``task`` in charge, let it open, wait for its outcome (the awaiting step is suspended)."""
        step = _STEP.get()
        if step is None or step.runner is not self:
            raise ConfigError("a task can only be awaited from a tool or a hook of its own session")
        if any(f.step is step for f in self.active):
            raise ToolError(f"{task.name} cannot start: another task of this call is running")
        if task.runner is not None:
            raise ConfigError(f"{task.name} has already run; make a new one")
        host = self.host
        caller = host.agent
        marker = host.chat.add_handoff(caller.name, task.name, at=self._now(step))
        frame = Frame(task, caller, marker, step)
        self.active.append(frame)
        task.runner, task.session = self, host
        host.agent = task
        self._publish(AgentHandoff(at=self._now(step), from_agent=caller.name, to_agent=task.name))
        try:
            await task.on_enter()
        except BaseException:  # it could not open: the caller carries on
            frame.future.cancel()
            self._end(frame, Outcome())
            step.woken = False  # it never waited
            raise
        if not frame.future.done():
            step.state, step.woken = "suspended", False
            self._notify()
        try:
            with paused_deadline():
                result: T = await frame.future
        finally:
            step.state = "running"
        with contextlib.suppress(Exception):
            await task.on_exit()
        return result

    def finish(self, task: AgentTask[Any], outcome: Outcome) -> None:
        """End ``task``: at once, or when the tools of the step that asked have finished."""
        frame = next((f for f in self.active if f.task is task), None)
        if frame is None:
            return
        step = _STEP.get()
        if step is not None and step is not frame.step and step.state == "running" and step.runner is self:
            step.finishing.append((frame, outcome))
        else:
            self._end(frame, outcome)

    def _end(self, frame: Frame, outcome: Outcome) -> None:
        """Take ``frame`` off the stack (and any task it started), give the caller back, wake the step."""
        if frame not in self.active:
            return
        index = self.active.index(frame)
        for above in reversed(self.active[index + 1 :]):
            self._end(above, Outcome(error=TaskAbandoned(f"{frame.task.name} ended before it")))
        self.active.remove(frame)
        task = frame.task
        task.done = True
        if not task.keep_items:
            self.take_out(frame.marker, task.chat)
        if self.host.agent is task:
            self.host.agent = frame.caller
        step = _STEP.get()
        self._publish(AgentHandoff(at=self._now(step), from_agent=task.name, to_agent=frame.caller.name))
        frame.step.state, frame.step.woken = "running", True
        outcome.apply(frame.future)
        self._notify()

    # ------------------------------------------------------------ the history
    def view(self, chat: ChatContext) -> ChatContext:
        """What the model sees: with a task in charge, its instructions and its conversation only."""
        if not self.active:
            return chat
        task = self.active[-1].task
        since = task.context_from or self.active[-1].marker
        start = _index(chat, since)
        view = ChatContext(task.instructions)
        view.messages += chat.messages[start:] if start is not None else chat.messages[1:]
        return view

    def take_out(self, marker: ChatMessage, into: ChatContext) -> int:
        """Move the history from ``marker`` on into ``into``; returns where it began (-1: not found)."""
        messages = self.host.chat.messages
        start = _index(self.host.chat, marker)
        if start is None:
            return -1
        into.messages += messages[start:]
        del messages[start:]
        return start

    def open_region(self, name: str) -> ChatMessage:
        """Mark the history where ``name`` (a task group) begins, in the current step."""
        step = _STEP.get()
        return self.host.chat.add_handoff(self.host.agent.name, name, at=self._now(step))

    def close_region(self, marker: ChatMessage, into: ChatContext, summary: str) -> None:
        """Move the history from ``marker`` on into ``into``; put ``summary`` (if any) in its place.

        The summary goes before a call still waiting for its output (the one that awaited
        the group), so that the call's output follows it directly.
        """
        chat = self.host.chat
        start = self.take_out(marker, into)
        if start < 0 or not summary:
            return
        pending = {c.id for c in chat.pending_calls()}
        before = chat.messages[start - 1] if start > 0 else None
        if before is not None and any(c.id in pending for c in before.tool_calls):
            start -= 1
        chat.messages.insert(start, ChatMessage(role="system", content=summary, at=marker.at))

    # ---------------------------------------------------------------- ending
    async def close(self) -> None:
        """The session ends: abandon every task in charge, let awaiting code react, cancel what is left."""
        self.closed = True
        for frame in reversed(list(self.active)):
            self._end(frame, Outcome(error=TaskAbandoned("the session ended")))
        tasks = [s.task for s in self._steps if s.task is not None and not s.task.done()]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=CLOSE_GRACE_S)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        for task in tasks:
            if not task.cancelled() and task.exception() is not None:
                log.warning("awaiting a task failed as the session ended", exc_info=task.exception())

    def _publish(self, event: AgentHandoff) -> None:
        step = _STEP.get()
        channel = step.channel if step is not None else None
        if channel is None:
            channel = next((f.step.channel for f in reversed(self.active) if f.step.channel), None)
        if channel is not None:
            channel.publish(event)

    @staticmethod
    def _now(step: Step[Any] | None) -> int:
        return step.channel.now() if step is not None and step.channel is not None else 0


def _index(chat: ChatContext, item: ChatMessage) -> int | None:
    """Where ``item`` (this very object) is in ``chat``."""
    for index, message in enumerate(chat.messages):
        if message is item:
            return index
    return None
