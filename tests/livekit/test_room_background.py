"""Background audio through a real room: the ambience on the agent's track, and no reply for it.

A room session with ``background.enabled`` (the worker runs ``graphs/room_agent.py``'s
session with the option on); a participant publishes a microphone and listens to the
agent's track. While nobody speaks, the agent's track carries the ambience and the
session reports no reply; then the participant asks something, the answer is one reply
(the background frames around it are none), and the ambience carries on after it.
The room sink alone, fed audio of no reply at real-time pace, falls silent on a pause
and drops what the pause cut instead of playing it later.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import numpy as np
import pytest
from livekit import rtc

from graphflow import Graph
from graphflow.agent.options import SessionOptions
from graphflow.conversation.events import AgentStartedSpeaking, AgentStoppedSpeaking
from graphflow.conversation.playout import Playout, PlayoutEvent
from graphflow.frames import SpeechAudio
from graphflow.livekit.server import LiveKitServer
from graphflow.models import ModelHub
from graphflow.timebase import MS
from graphflow.worker.job import JobContext
from graphflow.worker.settings import WorkerOptions
from graphflow.worker.worker import Worker
from graphs.room_agent import build_room_session
from nodes.audio.background import BackgroundMixer, BackgroundOptions
from nodes.memory import FrameSource, FrameSourceOptions
from nodes.room.sink import RoomAudioSink
from tests.fixtures import FIXTURES, model_cache
from tests.livekit.peer import Heard, Peer
from tests.livekit.test_room_audio import Running, agent_room, join
from tests.livekit.test_room_voice import COMMAND, VoiceJobs, dispatched, finals, listening
from tests.livekit.test_worker import access, running
from tests.waiting import until

# the models' loading and one short exchange: well under a minute on 2 cores
pytestmark = [pytest.mark.livekit, pytest.mark.slow, pytest.mark.timeout(150)]

OPTIONS = SessionOptions(background=BackgroundOptions(enabled=True, thinking_volume=0))
"""The ambience alone (gain 0.1 of a loop peaking at 0.5): no thinking sound."""


@pytest.fixture(scope="module")
def hub() -> ModelHub:
    """The models of the session."""
    return ModelHub(model_cache())


class BackgroundJobs(VoiceJobs):
    """The room agent with background audio, keeping each job and its playout events."""

    def __init__(self, hub: ModelHub) -> None:
        super().__init__(hub)
        self.playout: list[PlayoutEvent] = []

    async def __call__(self, ctx: JobContext) -> None:
        self.contexts[ctx.room_name] = ctx
        await ctx.connect()
        participant = await ctx.wait_for_participant(timeout_s=30)
        session = build_room_session(ctx.room, participant.identity, options=OPTIONS, hub=self.hub)
        session.playout.listeners.append(self.playout.append)
        ctx.run_session(session)


@contextlib.asynccontextmanager
async def background_worker(server: LiveKitServer, hub: ModelHub, name: str) -> AsyncIterator[BackgroundJobs]:
    """A worker running the agent with background audio for explicit dispatch under ``name``."""
    jobs = BackgroundJobs(hub)
    async with running(Worker(jobs, WorkerOptions(agent_name=name), access=access(server))):
        yield jobs


async def silence(source: rtc.AudioSource) -> None:
    """Publish digital silence at real-time pace (a quiet microphone) until cancelled."""
    frame = rtc.AudioFrame(bytes(2 * 480), 48000, 1, 480)
    while True:
        await source.capture_frame(frame)


def from_agent(peer: Peer) -> Heard:
    """What ``peer`` received on the agent's track."""
    heard = next((h for who, h in peer.heard.items() if who.startswith("agent-")), None)
    return heard if heard is not None else Heard()


def received_since(heard: Heard, since: float) -> list[np.ndarray]:
    """The frames of ``heard`` that arrived after loop time ``since``."""
    return [f for f, t in zip(heard.frames, heard.arrivals, strict=True) if t > since]


def rms(frames: list[np.ndarray]) -> float:
    """RMS of the frames together (int16 units)."""
    samples = np.concatenate(frames).astype(np.float64) if frames else np.zeros(1)
    return float(np.sqrt(np.mean(samples**2)))


def sounding(frames: list[np.ndarray], floor: int = 33) -> float:
    """The share of ``frames`` whose peak is above ``floor`` (-60 dBFS): not silent."""
    return sum(1 for f in frames if len(f) and np.abs(f).max() > floor) / max(1, len(frames))


async def test_the_ambience_reaches_the_room_and_is_no_reply(
    livekit_server: LiveKitServer, hub: ModelHub
) -> None:
    room = f"ambience-{uuid.uuid4().hex[:8]}"
    loop = asyncio.get_running_loop()
    async with background_worker(livekit_server, hub, "voice-background") as jobs:
        peer = await Peer(livekit_server, "caller", room).join(room_config=dispatched("voice-background"))
        quiet: asyncio.Task[None] | None = None
        try:
            await peer.open_microphone()
            assert peer.source is not None
            quiet = asyncio.ensure_future(silence(peer.source))
            await listening(jobs, room)
            session = jobs.contexts[room].sessions[0]
            [sink] = [n for n in session.graph.nodes() if isinstance(n, RoomAudioSink)]
            assert any(isinstance(n, BackgroundMixer) for n in session.graph.nodes())
            # nobody speaks: two seconds of the agent's track, from when it is heard on
            await until(lambda: from_agent(peer).frames, "the agent's track to be received", timeout=30)
            began = loop.time()
            await asyncio.sleep(2.0)
            idle = received_since(from_agent(peer), began)
            assert len(idle) > 50, f"only {len(idle)} frames of the agent's track in two seconds"
            # the ambience, not silence: its level and (generously) most of the time
            assert rms(idle) > 50, f"the agent's track is silent while idle (RMS {rms(idle):.1f})"
            assert sounding(idle) > 0.5, f"only {sounding(idle):.0%} of the idle frames carry sound"
            # and no reply for it: no playout report, no speaking event, no transcription
            assert sink.unreported.pushed > 0 and sink.replies == 0
            assert not [e for e in jobs.playout if e.kind in ("started", "finished")], jobs.playout
            assert not [
                e for e in session.events if isinstance(e, AgentStartedSpeaking | AgentStoppedSpeaking)
            ]
            assert not finals(peer, "agent-")

            # a question: its answer is the one reply, with the ambience under and after it
            quiet.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await quiet
            await peer.speak(FIXTURES / COMMAND, tail_ms=500)
            quiet = asyncio.ensure_future(silence(peer.source))
            await until(
                lambda: [e for e in jobs.playout if e.kind == "finished"],
                "the answer to be played",
                timeout=45,
                interval=0.1,
            )
            answered = loop.time()
            await asyncio.sleep(1.5)
            after = received_since(from_agent(peer), answered + 0.3)  # past what was on the wire
            said = [u for u in session.transcript if u.role == "agent"]
        finally:
            if quiet is not None:
                quiet.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await quiet
            await peer.leave()

    assert [e.kind for e in jobs.playout if e.kind in ("started", "finished")] == ["started", "finished"]
    finished = next(e for e in jobs.playout if e.kind == "finished")
    assert finished.reply_id and finished.heard and not finished.interrupted
    assert said and " ".join(said[0].text.split()) == " ".join(finished.heard.split())
    assert len([e for e in session.events if isinstance(e, AgentStartedSpeaking)]) == 1
    assert sink.replies == 1 and sink.interrupted == 0
    assert len(from_agent(peer).loud_at(5000)) > 20  # the voice itself, well above the ambience
    assert rms(after) > 50 and sounding(after) > 0.5, (rms(after), sounding(after))
    assert not [e for e in session.errors if e.fatal]


def hum(seconds: float, rate: int = 16000, frame_ms: int = 20) -> list[SpeechAudio]:
    """A 440 Hz tone of no reply (``reply_id == ""``), in frames timed for real-time pacing."""
    n = rate * frame_ms // 1000
    t = np.arange(int(seconds * 1000) // frame_ms * n) / rate
    pcm = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16).reshape(-1, n, 1)
    return [SpeechAudio(samples=p, rate=rate, pts=i * frame_ms * MS) for i, p in enumerate(pcm)]


async def test_the_sink_pauses_audio_of_no_reply_and_drops_what_the_pause_cut(
    livekit_server: LiveKitServer,
) -> None:
    room = f"unreported-{uuid.uuid4().hex[:8]}"
    agent = await agent_room(livekit_server, room)
    user = await join(livekit_server, "user", room)
    playout = Playout()
    events: list[PlayoutEvent] = []
    playout.listeners.append(events.append)
    frames = hum(6.0)
    sink = RoomAudioSink(name="sink", room=agent, playout=playout)
    feed = FrameSource(frames, FrameSourceOptions(paced=True), name="feed")
    run = Running(Graph("hum").chain(feed, sink))
    loop = asyncio.get_running_loop()

    def loud_since(since: float) -> list[float]:
        return [t for t in user.heard["agent"].loud_at(1000) if t > since] if "agent" in user.heard else []

    try:
        await until(lambda: len(loud_since(0)) > 50, "the tone to be heard")
        playout.pause()
        paused = loop.time()
        await asyncio.sleep(2.0)
        assert not loud_since(paused + 1.0), "the tone still played a second after the pause"
        playout.resume()
        resumed = loop.time()
        await until(lambda: len(loud_since(resumed)) > 50, "the tone to carry on after the resume")
        await run.finish()
    finally:
        await run.finish(stop=True)
        await user.leave()
        await agent.disconnect()

    assert [e.kind for e in events] == ["paused", "resumed"]  # no reply started or finished
    assert sink.replies == 0 and sink.pauses == 0 and sink.replayed == 0 and not user.texts
    whole = 48000 * 6  # the tone at the track's rate
    # the two seconds of the pause were dropped, not played later: neither pushed nor heard
    assert 0 < sink.unreported.pushed < whole - 48000, (sink.unreported.pushed, whole)
    assert len(loud_since(0)) < 600 - 100, len(loud_since(0))
