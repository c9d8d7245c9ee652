"""Where the time goes between a participant and the room agent: taps on the room nodes, and the split.

:class:`RoomProbe` records, on the agent's side of one room, every piece of audio the
microphone source received (arrival time, media time, peak), every piece the sink handed
to the room (time, peak, audio queued ahead of it) and the session's events. With the
participant's own times, :func:`split` cuts the voice-to-voice the participant hears into
the way in, the two definitions of "end of speech", the agent's own figure, the reply's
quiet start and the way out; :func:`barge_in_split` does the same for a barge-in. All
times are loop seconds (the monotonic clock the graph's clock also reads).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass, field

import numpy as np
from livekit import rtc

from graphflow.agent.session import AgentSession
from graphflow.conversation.events import AgentPaused, SessionEvent, TurnMetrics, UserStartedSpeaking
from graphflow.timebase import SECOND
from nodes.room.inbox import Received
from nodes.room.sink import Pushed, RoomAudioSink
from nodes.room.source import RoomAudioSource

LOUD_IN = 1000
"""Peak above which a participant's 10 ms counts as loud (as in ``Peer.speak``)."""
LOUD_OUT = 500
"""Peak above which the agent's audio counts as loud (as in ``Heard.loud_at``)."""

Figures = dict[str, float]


@dataclass
class Piece:
    """One piece of audio seen by a tap: clock time, media time, length, peak, audio queued ahead."""

    at: float
    pts: float
    seconds: float
    peak: int
    queued: float = 0.0


@dataclass
class RoomProbe:
    """What the agent of one room received, pushed and reported."""

    received: list[Piece] = field(default_factory=list)
    pushed: list[Piece] = field(default_factory=list)
    events: list[SessionEvent] = field(default_factory=list)
    base: float = 0.0
    source: RoomAudioSource | None = None
    sink: RoomAudioSink | None = None

    def attach(self, session: AgentSession) -> None:
        """Tap the session's room source and sink, and follow its events."""
        for node in session.graph.nodes():
            if isinstance(node, RoomAudioSource):
                self.source = node
                node.taps.append(self._received)
            elif isinstance(node, RoomAudioSink):
                self.sink = node
                node.taps.append(self._pushed)
        session.subscribe(self.events.append)

    def _received(self, got: Received) -> None:
        assert self.source is not None
        self.base = (self.source.base_time or 0) / SECOND
        n, rate = len(got.samples), self.source.options.rate
        self.received.append(Piece(got.at / SECOND, got.pts / SECOND, n / rate, _peak(got.samples)))

    def _pushed(self, pushed: Pushed) -> None:
        assert self.sink is not None
        n, rate = len(pushed.samples), self.sink.options.rate
        piece = Piece(pushed.at / SECOND, 0.0, n / rate, _peak(pushed.samples), pushed.queued / SECOND)
        self.pushed.append(piece)


def _peak(samples: np.ndarray) -> int:
    return int(np.abs(samples.astype(np.int32)).max()) if len(samples) else 0


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def split(probe: RoomProbe, metrics: TurnMetrics, sent_end: float, heard_first: float) -> Figures:
    """The participant's voice-to-voice (``sent_end`` → ``heard_first``) cut in parts that add up.

    ``in``: the participant's last loud 10 ms leaves its microphone → arrives at the agent;
    ``clock_vs_pts``: how much later it arrived than its media time says (the agent's own
    figure already counts it); ``silero_vs_loud``: Silero's end of speech after the end of
    that 10 ms (media time); the agent's ``voice_to_voice_ms``; ``quiet_start``: the reply's
    first sample handed to the room → its first loud 10 ms handed over; ``out_queue``:
    audio of the reply queued ahead of that 10 ms; ``out_wire``: it leaves the queue → it
    arrives at the participant.
    """
    started = metrics.at / SECOND
    v2v = (metrics.voice_to_voice_ms or 0.0) / 1000
    speech_end = started - v2v  # Silero's end of speech on the clock, by the media timeline
    loud_in = [p for p in probe.received if p.peak > LOUD_IN and p.at < started]
    loud_out = [p for p in probe.pushed if p.peak > LOUD_OUT and p.at >= started - 1e-4]
    if not loud_in or not loud_out:
        return {}
    last, first = loud_in[-1], loud_out[0]
    pts_end = probe.base + last.pts + last.seconds
    parts = {
        "in_ms": last.at - sent_end,
        "clock_vs_pts_ms": -(last.at - pts_end),
        "silero_vs_loud_ms": speech_end - pts_end,
        "quiet_start_ms": first.at - started,
        "out_queue_ms": first.queued,
        "out_wire_ms": heard_first - first.at - first.queued,
    }
    figures = {k: _ms(v) for k, v in parts.items()}
    wire = parts["in_ms"] + parts["clock_vs_pts_ms"] + parts["out_wire_ms"]
    figures["wire_ms"] = _ms(wire)
    definitions = parts["silero_vs_loud_ms"] + parts["quiet_start_ms"] + parts["out_queue_ms"]
    figures["definitions_ms"] = _ms(definitions)
    return figures


def barge_in_split(probe: RoomProbe, onset: float, heard_last: float) -> Figures:
    """A barge-in cut in parts: the first loud 10 ms leaves at ``onset``, the agent's last loud audio arrives.

    ``in``: that 10 ms arrives at the agent; ``vad``: → Silero's start of speech; ``pause``:
    → the gate paused playout (the sink cleared its queue); ``drain``: → the last loud audio
    already sent arrives at the participant.
    """

    def after(kind: type[SessionEvent]) -> float | None:
        times = (e.at / SECOND for e in probe.events if isinstance(e, kind))
        return next((t for t in times if t > onset), None)

    arrived = next((p.at for p in probe.received if p.at > onset and p.peak > LOUD_IN), None)
    started, paused = after(UserStartedSpeaking), after(AgentPaused)
    if arrived is None or started is None or paused is None:
        return {}
    return {
        "barge_in_in_ms": _ms(arrived - onset),
        "barge_in_vad_ms": _ms(started - arrived),
        "barge_in_pause_ms": _ms(paused - started),
        "barge_in_drain_ms": _ms(heard_last - paused),
    }


def queue_use(probe: RoomProbe, since: float, until: float) -> Figures:
    """How full the sink's source queue ran while replying, and the times it ran dry mid-reply."""
    pieces = [p for p in probe.pushed if since <= p.at <= until]
    pauses = [e.at / SECOND for e in probe.events if isinstance(e, AgentPaused)]
    if len(pieces) < 2:
        return {}
    gaps: list[float] = []
    for a, b in itertools.pairwise(pieces):
        dry = a.at + a.queued + a.seconds  # from then on the queue held nothing
        if b.at > dry + 0.002 and not any(a.at <= t <= b.at for t in pauses):
            gaps.append(b.at - dry)
    queued = np.array([p.queued for p in pieces[1:]])
    return {
        "sink_queue_p50_ms": _ms(float(np.percentile(queued, 50))),
        "sink_queue_max_ms": _ms(float(queued.max())),
        "sink_gaps": float(len(gaps)),
        "sink_gap_ms": _ms(sum(gaps)),
    }


async def receive_stats(room: rtc.Room, prefix: str) -> Figures:
    """The room's inbound audio as WebRTC counts it: jitter buffer delay, concealed audio."""
    with contextlib.suppress(Exception):
        stats = await asyncio.wait_for(room.get_rtc_stats(), 5)
        # the SDK lists the subscriber's transport among publisher_stats: look at both
        for s in [*stats.subscriber_stats, *stats.publisher_stats]:
            if s.WhichOneof("stats") != "inbound_rtp" or s.inbound_rtp.stream.kind != "audio":
                continue
            inbound = s.inbound_rtp.inbound
            if not inbound.jitter_buffer_emitted_count:
                continue
            emitted = inbound.jitter_buffer_emitted_count
            return {
                f"{prefix}_jitter_buffer_ms": _ms(inbound.jitter_buffer_delay / emitted),
                f"{prefix}_concealed_ms": _ms(inbound.concealed_samples / 48000),
            }
    return {}


class LoopLag:
    """How late the event loop wakes a 10 ms timer (every arrival time taken on the loop is that late)."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start sampling."""
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(0.01)
            self.lags.append(loop.time() - t - 0.01)

    def take(self) -> Figures:
        """p99 and max lag since the last take."""
        lags, self.lags = np.array(self.lags or [0.0]), []
        p99, top = float(np.percentile(lags, 99)), float(lags.max())
        return {"loop_lag_p99_ms": _ms(p99), "loop_lag_max_ms": _ms(top)}

    def stop(self) -> None:
        """Stop sampling."""
        if self._task is not None:
            self._task.cancel()
