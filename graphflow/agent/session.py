"""AgentSession: a compiled voice graph plus the conversation it is having.

The session runs the graph, watches it through taps and playout events, and keeps the
conversation: the chat history (what the user said; what the agent actually got to say
before an interruption), a transcript with times on the input's timeline, per-turn
metrics and a stream of events that a program can subscribe to or iterate.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from graphflow.agent.agent import Agent
from graphflow.agent.entering import enter_first_agent
from graphflow.agent.exchange import ExchangeLog
from graphflow.agent.feed import EventFeed
from graphflow.agent.fragments import Fragments
from graphflow.agent.handoff import hand_over
from graphflow.agent.heard import HeardRecorder
from graphflow.agent.options import SessionOptions
from graphflow.agent.pipeline import IOFactory, PipelineParts, StageOverrides, build_pipeline
from graphflow.agent.replies import AgentReplies
from graphflow.agent.speech import SpeechHandle
from graphflow.agent.speeches import Speeches
from graphflow.agent.stages import StageSet
from graphflow.agent.states import ConversationState
from graphflow.agent.tool_context import RunContext
from graphflow.compiler.plan import CompiledGraph
from graphflow.conversation.chat import ChatContext
from graphflow.conversation.events import (
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
    Utterance,
)
from graphflow.conversation.model import ChatModel
from graphflow.conversation.playout import PlayoutEvent
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
    TurnKind,
)
from graphflow.models import ModelHub
from graphflow.recording.recorder import RecordOptions, SessionRecorder
from graphflow.runtime.clock import Clock, RealtimeClock
from graphflow.runtime.events import CancelFired, NodeEvent, NodeIssue, RunEvent, RunFinished
from graphflow.runtime.runner import GraphRunner
from graphflow.runtime.stats import LatencyStats
from graphflow.runtime.wiring import RunOptions
from graphflow.timebase import to_seconds
from nodes.llm.base import LLMNode

USER_FIGURES = ("vad_ms", "transcript_ms", "end_of_turn_ms")
"""The figures of an exchange kept on the user's message (the rest go on the agent's)."""


class AgentSession:
    """Runs a voice graph it builds from one options struct, and keeps the conversation.

    ``options`` says what to build (providers, VAD, turn detection, gate, tool loop);
    ``agent`` brings instructions, tools, hooks and perhaps stages of its own; ``io``
    replaces the file source and sink (with room nodes, for instance); ``hub`` shares
    loaded models between sessions; ``overrides`` puts given nodes in place of the
    configured providers; ``userdata`` is handed to the agent's tools.
    """

    def __init__(
        self,
        options: SessionOptions | None = None,
        *,
        agent: Agent | None = None,
        io: IOFactory | None = None,
        hub: ModelHub | None = None,
        overrides: StageOverrides | None = None,
        userdata: object = None,
        record: RecordOptions | None = None,
    ) -> None:
        self.options = o = options or SessionOptions()
        self.agent = agent or Agent(o.instructions)
        self.chat = ChatContext(self.agent.instructions)
        self.userdata = userdata
        """Handed to the agent's tools (``RunContext.userdata``)."""
        self.fragments = Fragments(o.gate.join_below_words)
        """Whether the user's latest message is open (its reply was cut unheard): the next words join it."""
        self.replies = AgentReplies(self, o.tool_loop)
        """The language-model stage's replies: the tool loop, handoffs, early replies."""
        own = StageSet(stt=self.agent.stt, llm=self.agent.llm, tts=self.agent.tts)
        parts = PipelineParts(self.replies, hub or ModelHub(), io, overrides, own)
        pipeline = build_pipeline(o, parts)
        self.graph = pipeline.graph
        self.playout = pipeline.playout
        self.gate = pipeline.gate
        self.control = pipeline.control
        self.stages = pipeline.stages
        """The graph's stage nodes and the providers handed-to agents bring."""
        self.agent.session = self
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
        wants every sample calls :meth:`keep_frame_lag` before running."""
        self.state = ConversationState(self._emit, away_after_s=o.away_after_s)
        """The user's and the agent's state (``state.user``, ``state.agent``)."""
        self.speeches = Speeches(self.playout, self._interrupt_speech)
        """The handles of the replies not yet heard."""
        self._heard = HeardRecorder(self.chat)
        rec = record or o.record
        self.recorder = SessionRecorder(self, rec) if rec.folder else None
        """Writes the session's recording when its run ends (``record`` or ``options.record``)."""

    # ------------------------------------------------------------------ agent
    def tool_context(self, call: ToolCall) -> RunContext:
        """The context a tool call runs with: this session, its user data, the current speech."""
        return RunContext(
            session=self,
            userdata=self.userdata,
            call=call,
            speech=self.current_speech,
            wait_for_playout=self._wait_heard,
            disallow_interruptions=lambda: setattr(self.playout, "interruptible", False),
        )

    def llm_provider(self) -> ChatModel | None:
        """The model the agent in charge brought, if the graph's stage does not answer itself."""
        provider = self.stages.provider("llm")
        return provider if isinstance(provider, LLMNode) else None

    async def _wait_heard(self) -> None:
        """Wait until what the current reply has said so far has been heard."""
        mark = await self.replies.mark()
        if mark is not None:
            await self.playout.wait_mark(*mark)

    @property
    def current_speech(self) -> SpeechHandle | None:
        """The reply being prepared or played now, if any."""
        replying = self.replies.replying
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
        if self.replies.busy:
            if instructions:
                self.chat.add("system", instructions)
            current = self.current_speech
            if current is not None:
                return current
        return await self._request(instructions, TurnKind.GENERATE, allow_interruptions)

    async def say(self, text: str, *, allow_interruptions: bool = True) -> SpeechHandle:
        """The agent says ``text`` as it is; returns the reply's handle (await it to wait until heard)."""
        return await self._request(text, TurnKind.SAY, allow_interruptions)

    async def _request(self, text: str, kind: TurnKind, allow_interruptions: bool) -> SpeechHandle:
        control = self.control
        handle = self.speeches.new(control.generation, allow_interruptions=allow_interruptions)
        await control.request(text, kind, reply_id=handle.id)
        return handle

    def interrupt(self) -> None:
        """Stop what the agent is saying or preparing, as a barge-in would."""
        self.fragments.interrupting()  # the program's cut, not the user's: nothing to join
        self.gate.interrupt()

    def _interrupt_speech(self, handle: SpeechHandle) -> None:
        """``handle.interrupt()``: cut it now if it is under way, or withdraw it if it waits."""
        current = self.current_speech
        if handle.started or (current is not None and current.id == handle.id):
            self.interrupt()
            return
        self.replies.withdraw(handle.id)
        self.speeches.cancel(handle.id)

    def keep_frame_lag(self, samples: int) -> None:
        """Keep up to ``samples`` frame-lag samples (a benchmark's percentiles), not a histogram only."""
        self.frame_lag = LatencyStats(keep=samples)

    # ---------------------------------------------------------------- running
    def compile(self) -> CompiledGraph:
        """The session's compiled graph (so ``graphflow render`` can draw a session)."""
        return self.graph.compile()

    async def run(self, clock: Clock | None = None, *, trace: bool = False) -> None:
        """Run the conversation until the input ends."""
        self.runner = self.compile().runner(
            RunOptions(clock=clock or RealtimeClock(), trace=trace or self.options.trace, observers=(self,))
        )
        entering = asyncio.ensure_future(enter_first_agent(self))  # owned here: awaited or cancelled below
        try:
            await self.runner.run()
        finally:
            entering.cancel()
            await asyncio.gather(entering, return_exceptions=True)
            await self.replies.tasks.close()  # abandons the tasks in charge, cancels who awaits them
            self.speeches.close()
            await self.stages.close()
            self.state.close()
            self.feed.close()
            if self.recorder is not None:
                await asyncio.to_thread(self.recorder.finish)

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
        """Follow a frame the graph's tap published."""
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
            text, final, start, end = frame.text, frame.final, frame.start, frame.end
            self._emit(UserTranscript(at=now, media=end, text=text, final=final, start=start, end=end))
        elif isinstance(frame, EndOfTurn):
            if frame.kind != TurnKind.PREEMPTIVE:
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
        """All the session hears of its graph comes here: published frames and events, issues, cancels."""
        if isinstance(event, NodeEvent):
            self._published(event.payload)
        elif isinstance(event, NodeIssue):
            code, message, retryable = event.code, event.message, event.retryable
            self.report(
                SessionError(at=event.at, node=event.node, code=code, message=message, retryable=retryable)
            )
        elif isinstance(event, CancelFired):
            self.speeches.cancelled(event.new_generation)
            self.fragments.cancelled(event.new_generation)
        elif isinstance(event, RunFinished) and event.error:
            self.report(
                SessionError(at=event.at, node="", code="session.failed", message=event.error, fatal=True)
            )

    def now(self) -> int:
        """The session's clock time (0 before it runs)."""
        return self.runner.now() if self.runner is not None else 0

    def _published(self, payload: object) -> None:
        """What a node published: a tapped frame, a playout change, a reply's event."""
        if isinstance(payload, Frame):
            self.see(payload)
        elif isinstance(payload, PlayoutEvent):
            self.speeches.on_playout(payload)
            self._on_playout(payload)
        elif isinstance(payload, SessionEvent):
            if isinstance(payload, FunctionCalls):
                self._heard.calls_made(payload)
            self._emit(payload)

    # ---------------------------------------------------------------- helpers
    def _end_turn(self, turn: EndOfTurn, now: int) -> None:
        typed = turn.kind == TurnKind.TYPED
        self._log.turn_ended(turn, typed=typed)
        if typed:  # no speech behind it: it happened when it arrived
            start = end = self.playout.timeline.media(turn.created)
        else:
            start = self._user_start if self._user_start is not None else turn.speech_end
            end = turn.speech_end
            self._user_start = None
        self.transcript.append(
            Utterance(role="user", text=turn.text, start=to_seconds(start), end=to_seconds(end))
        )
        text, reason, p, evidence, kind = turn.text, turn.reason, turn.probability, turn.evidence, turn.kind
        self._emit(
            TurnEnded(
                at=now, media=end, text=text, reason=reason, probability=p, evidence=evidence, kind=kind
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
            end, cut = to_seconds(event.media_at), event.interrupted
            self.transcript.append(
                Utterance(role="agent", text=event.heard, start=to_seconds(start), end=end, interrupted=cut)
            )
            figures = self._log.figures(event.reply_id)
            figures["started_speaking_s"] = to_seconds(start)
            figures["stopped_speaking_s"] = end
            self._heard.heard(
                event.reply_id, event.heard, interrupted=event.interrupted, at=event.at, metrics=figures
            )
            at, media, reply_id, heard = event.at, event.media_at, event.reply_id, event.heard
            self._emit(
                AgentStoppedSpeaking(at=at, media=media, reply_id=reply_id, heard=heard, interrupted=cut)
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

    def report(self, error: SessionError) -> None:
        """Record ``error`` and tell the session's listeners (``errors``, the event stream)."""
        self.errors.append(error)
        self._emit(error)

    def _emit(self, event: SessionEvent) -> None:
        self.feed.emit(event)
        self.state.observe(event)  # a state change it causes follows it, for everyone
