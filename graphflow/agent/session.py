"""AgentSession: a compiled voice graph plus the conversation it is having.

The session runs the graph, watches it through taps and playout events, and keeps the
conversation: the chat history (what the user said; what the agent actually got to say
before an interruption), a transcript with times on the input's timeline, per-turn
metrics and a stream of events that a program can subscribe to or iterate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import msgspec

from graphflow.agent.agent import Agent
from graphflow.agent.chat import ChatContext
from graphflow.agent.control import GENERATE, PREEMPTIVE, SAY, TYPED, SessionControl
from graphflow.agent.events import (
    AgentPaused,
    AgentResumed,
    AgentStartedSpeaking,
    AgentStoppedSpeaking,
    FunctionCalls,
    SessionError,
    SessionEvent,
    TurnEnded,
    TurnMetrics,
    UserStartedSpeaking,
    UserStoppedSpeaking,
    UserTranscript,
)
from graphflow.agent.exchange import ExchangeLog
from graphflow.agent.feed import EventFeed
from graphflow.agent.fragments import Fragments
from graphflow.agent.handoff import hand_over
from graphflow.agent.heard import HeardRecorder
from graphflow.agent.playout import Playout, PlayoutEvent
from graphflow.agent.speech import SpeechHandle
from graphflow.agent.speeches import Speeches
from graphflow.agent.stages import AgentStages
from graphflow.agent.states import ConversationState
from graphflow.agent.tool_context import RunContext
from graphflow.compiler.plan import CompiledGraph
from graphflow.errors import ConfigError
from graphflow.frames import (
    AudioFrame,
    EndOfTurn,
    Frame,
    ReplyDelta,
    ReplyEnd,
    SpeechAudio,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    SpeechStopped,
    ToolCall,
    Transcript,
)
from graphflow.graph import Graph
from graphflow.runtime.clock import Clock, RealtimeClock
from graphflow.runtime.events import CancelFired, NodeIssue, RunEvent, RunFinished
from graphflow.runtime.runner import GraphRunner
from graphflow.runtime.stats import LatencyStats
from graphflow.runtime.wiring import RunOptions

if TYPE_CHECKING:
    from nodes.gate.interruption import InterruptionGate
    from nodes.llm.base import LLMNode

USER_FIGURES = ("vad_ms", "transcript_ms", "end_of_turn_ms")
"""The figures of an exchange kept on the user's message (the rest go on the agent's)."""


class Utterance(msgspec.Struct, frozen=True, kw_only=True):
    """One line of the conversation, times in seconds on the input's timeline."""

    role: str
    text: str
    start: float
    end: float
    interrupted: bool = False


class AgentSession:
    """Runs a voice graph and keeps the conversation (history, transcript, events, metrics)."""

    def __init__(
        self, graph: Graph, *, playout: Playout, chat: ChatContext, agent: Agent | None = None
    ) -> None:
        self.graph = graph
        self.playout = playout
        self.chat = chat
        self.agent = agent or Agent()
        self.transcript: list[Utterance] = []
        self.metrics: list[TurnMetrics] = []
        self.errors: list[SessionError] = []
        self.feed = EventFeed()
        """Every event, with subscribers and async readers."""
        self.events: list[SessionEvent] = self.feed.events
        """Every event so far, in order (the feed's list)."""
        self._user_start: int | None = None
        self._log = ExchangeLog()
        self._agent_start: dict[str, int] = {}
        self.runner: GraphRunner | None = None
        self.frame_lag = LatencyStats()
        """How late input audio frames leave the VAD, against their real-time schedule (ns).

        A histogram only, so a long session costs no memory per frame; a benchmark that
        wants every sample replaces it with ``LatencyStats(keep=N)`` before running."""
        self.state = ConversationState(self._emit)
        """The user's and the agent's state (``state.user``, ``state.agent``)."""
        self.userdata: object = None
        """Handed to the agent's tools (``RunContext.userdata``)."""
        self.llm: LLMNode | None = None
        self.control: SessionControl | None = None
        self.gate: InterruptionGate | None = None
        self.stages: AgentStages | None = None
        """The graph's stage nodes and the providers handed-to agents bring (set by ``build_session``)."""
        playout.listeners.append(self._on_playout)
        self.speeches = Speeches(playout, self._interrupt_speech)
        """The handles of the replies not yet heard."""
        self._heard = HeardRecorder(chat)
        self.fragments = Fragments()
        """Whether the user's latest message is open (its reply was cut unheard): the next words join it."""

    # ------------------------------------------------------------------ agent
    def attach_llm(self, llm: LLMNode) -> None:
        """Let ``llm`` run the agent's tools in this session and report calls and handoffs to it."""
        self.llm = llm
        llm.chat = self.chat
        llm.agent = self.agent
        self.agent.session = self
        llm.context_factory = self._tool_context
        llm.on_handoff = self.update_agent
        llm.listeners.append(self._on_llm_event)
        llm.fragments = self.fragments

    def _on_llm_event(self, event: SessionEvent) -> None:
        if isinstance(event, FunctionCalls):
            self._heard.calls_made(event)
        self._emit(event)

    def _tool_context(self, call: ToolCall) -> RunContext:
        def forbid() -> None:
            self.playout.interruptible = False

        return RunContext(
            session=self,
            userdata=self.userdata,
            call=call,
            speech=self.current_speech,
            wait_for_playout=self._wait_heard,
            disallow_interruptions=forbid,
        )

    async def _wait_heard(self) -> None:
        """Wait until what the current reply has said so far has been heard."""
        mark = await self.llm.mark() if self.llm is not None else None
        if mark is not None:
            await self.playout.wait_mark(*mark)

    @property
    def current_speech(self) -> SpeechHandle | None:
        """The reply being prepared or played now, if any."""
        replying = self.llm.replying if self.llm is not None else None
        if replying is not None:
            return self.speeches.get(replying.reply_id, replying.turn.generation)
        if self.playout.speaking:
            return self.speeches.get(self.playout.reply_id, self.playout.generation)
        return None

    async def update_agent(self, agent: Agent) -> None:
        """Switch to ``agent`` (instructions, tools, hooks) without touching the audio path."""
        await hand_over(self, agent)

    async def generate_reply(
        self, instructions: str = "", *, allow_interruptions: bool = True
    ) -> SpeechHandle:
        """Reply now, following one-off ``instructions``; returns the reply's handle.

        While a reply is being made (from ``on_enter`` during a handoff, say), the
        instructions join the conversation, that reply's next step follows them, and
        its handle is returned.
        """
        if self.llm is not None and self.llm.busy:
            if instructions:
                self.chat.add("system", instructions)
            current = self.current_speech
            if current is not None:
                return current
        return await self._request(instructions, GENERATE, allow_interruptions)

    async def say(self, text: str, *, allow_interruptions: bool = True) -> SpeechHandle:
        """The agent says ``text`` as it is; returns the reply's handle (await it to wait until heard)."""
        return await self._request(text, SAY, allow_interruptions)

    async def _request(self, text: str, reason: str, allow_interruptions: bool) -> SpeechHandle:
        control = self._control()
        handle = self.speeches.new(control.generation, allow_interruptions=allow_interruptions)
        await control.request(text, reason, reply_id=handle.id)
        return handle

    def interrupt(self) -> None:
        """Stop what the agent is saying or preparing, as a barge-in would."""
        self.fragments.interrupting()  # the program's cut, not the user's: nothing to join
        if self.gate is not None:
            self.gate.interrupt()

    def _interrupt_speech(self, handle: SpeechHandle) -> None:
        """``handle.interrupt()``: cut it now if it is under way, or withdraw it if it waits."""
        current = self.current_speech
        if handle.started or (current is not None and current.id == handle.id):
            self.interrupt()
            return
        if self.llm is not None:
            self.llm.withdrawn.add(handle.id)
        self.speeches.cancel(handle.id)

    def _control(self) -> SessionControl:
        if self.control is None:
            raise ConfigError(
                "this session's graph has no SessionControl node", hint="build it with build_session"
            )
        return self.control

    # ---------------------------------------------------------------- running
    def compile(self) -> CompiledGraph:
        """The session's compiled graph (so ``graphflow render`` can draw a session)."""
        return self.graph.compile()

    async def run(self, clock: Clock | None = None, *, trace: bool = False) -> None:
        """Run the conversation until the input ends."""
        if self.gate is not None:
            self.fragments.join_below_words = self.gate.options.join_below_words
        self.runner = self.compile().runner(
            RunOptions(clock=clock or RealtimeClock(), trace=trace, observers=(self,))
        )
        try:
            await self.runner.run()
        finally:
            self.speeches.close()
            if self.stages is not None:
                await self.stages.close()
            self.state.close()
            self.feed.close()

    def stop(self) -> None:
        """End the conversation: stop the input and let what is in flight finish."""
        if self.runner is not None:
            self.runner.stop()

    def subscribe(self, callback: Callable[[SessionEvent], None]) -> None:
        """Call ``callback`` with every event from now on."""
        self.feed.subscribe(callback)

    def stream(self) -> AsyncIterator[SessionEvent]:
        """Iterate over events as they happen (until the session ends)."""
        return self.feed.stream()

    # ------------------------------------------------------------- observing
    def see(self, frame: Frame) -> None:
        """Called by the graph's taps for the frames the session follows."""
        now = self.now()
        if isinstance(frame, AudioFrame) and not isinstance(frame, SpeechAudio):
            base = self.playout.timeline.base
            if base is not None:
                self.frame_lag.add(now - (base + frame.pts + frame.duration))
            return
        if isinstance(frame, SpeechStarted):
            if self._user_start is None:
                self._user_start = frame.pts
            self._emit(UserStartedSpeaking(at=frame.created, media=frame.pts))
        elif isinstance(frame, SpeechResumed):
            if self._user_start is None:  # the pause before it ended the turn: a new one begins
                self._user_start = frame.pts
                self._emit(UserStartedSpeaking(at=frame.created, media=frame.pts))
        elif isinstance(frame, SpeechPaused):
            self._log.speech_ended(frame.pts, frame.created)
        elif isinstance(frame, SpeechStopped):
            self._log.speech_ended(frame.pts, frame.created)
            self._emit(UserStoppedSpeaking(at=frame.created, media=frame.pts))
        elif isinstance(frame, Transcript):
            if frame.final:
                self._log.current.final_at = frame.created
            self._emit(
                UserTranscript(
                    at=now,
                    media=frame.end,
                    text=frame.text,
                    final=frame.final,
                    start=frame.start,
                    end=frame.end,
                )
            )
        elif isinstance(frame, EndOfTurn):
            if frame.reason != PREEMPTIVE:
                self._end_turn(frame, now)
        elif isinstance(frame, ReplyDelta):
            if frame.text:  # not a playout mark
                self._log.token(frame)
        elif isinstance(frame, ReplyEnd):
            metrics = self._log.ended(frame)
            if metrics is not None:
                self._emit(metrics)
        elif isinstance(frame, SpeechAudio):
            self._log.audio(frame)

    def on_event(self, event: RunEvent) -> None:
        """Run events: node issues and failures become session errors."""
        if isinstance(event, NodeIssue):
            error = SessionError(
                at=event.at,
                node=event.node,
                code=event.code,
                message=event.message,
                retryable=event.retryable,
            )
            self.errors.append(error)
            self._emit(error)
        elif isinstance(event, CancelFired):
            self.speeches.cancelled(event.new_generation)
            self.fragments.cancelled(event.new_generation)
        elif isinstance(event, RunFinished) and event.error:
            error = SessionError(at=event.at, node="", code="session.failed", message=event.error, fatal=True)
            self.errors.append(error)
            self._emit(error)

    def now(self) -> int:
        """The session's clock time (0 before it runs)."""
        rt = self.runner.state if self.runner is not None and self.runner._rt is not None else None
        return rt.clock.now() if rt is not None else 0

    # ---------------------------------------------------------------- helpers
    def _end_turn(self, turn: EndOfTurn, now: int) -> None:
        typed = turn.reason == TYPED
        self._log.turn_ended(turn, typed=typed)
        if typed:  # no speech behind it: it happened when it arrived
            start = end = self.playout.timeline.media(turn.created)
        else:
            start = self._user_start if self._user_start is not None else turn.speech_end
            end = turn.speech_end
            self._user_start = None
        self.transcript.append(Utterance(role="user", text=turn.text, start=start / 1e9, end=end / 1e9))
        self._emit(
            TurnEnded(
                at=now,
                media=end,
                text=turn.text,
                reason=turn.reason,
                probability=turn.probability,
                evidence=turn.evidence,
            )
        )

    def _on_playout(self, event: PlayoutEvent) -> None:
        if event.kind == "started":
            self.fragments.started(event.reply_id)
            self._agent_start[event.reply_id] = event.media_at
            self._emit(AgentStartedSpeaking(at=event.at, media=event.media_at, reply_id=event.reply_id))
            self._metrics(event)
        elif event.kind == "finished":
            started = event.reply_id in self._agent_start
            start = self._agent_start.pop(event.reply_id, event.media_at)
            self.fragments.heard(event.reply_id, event.heard, interrupted=event.interrupted)
            if not started:  # cut before its first audio: the user heard nothing, nothing stopped
                self._heard.heard(event.reply_id, event.heard, interrupted=event.interrupted, at=event.at)
                return
            self.transcript.append(
                Utterance(
                    role="agent",
                    text=event.heard,
                    start=start / 1e9,
                    end=event.media_at / 1e9,
                    interrupted=event.interrupted,
                )
            )
            figures = self._log.figures(event.reply_id)
            figures["started_speaking_s"] = start / 1e9
            figures["stopped_speaking_s"] = event.media_at / 1e9
            self._heard.heard(
                event.reply_id, event.heard, interrupted=event.interrupted, at=event.at, metrics=figures
            )
            self._emit(
                AgentStoppedSpeaking(
                    at=event.at,
                    media=event.media_at,
                    reply_id=event.reply_id,
                    heard=event.heard,
                    interrupted=event.interrupted,
                )
            )
        elif event.kind == "paused":
            self._emit(AgentPaused(at=event.at, media=event.media_at))
        elif event.kind == "resumed":
            self._emit(AgentResumed(at=event.at, media=event.media_at))

    def _metrics(self, started: PlayoutEvent) -> None:
        metrics = self._log.started(started, self.playout.timeline.base)
        if metrics is None:
            return
        self.metrics.append(metrics)
        user = self.chat.last("user")
        if user is not None and not user.metrics:  # the turn this reply answers
            turn = {k: getattr(metrics, k) for k in USER_FIGURES}
            self.chat.replace(user, metrics={k: v for k, v in turn.items() if v is not None})
        self._emit(metrics)

    def _emit(self, event: SessionEvent) -> None:
        self.feed.emit(event)
        self.state.observe(event)  # a state change it causes follows it, for everyone
