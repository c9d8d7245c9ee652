"""Room audio nodes on a real server: a participant's microphone in, the agent's speech out."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from pathlib import Path

import msgspec
import numpy as np
import pytest
from livekit import rtc

from graphflow import Graph, RunOptions
from graphflow.conversation.playout import Playout, PlayoutEvent, Timeline
from graphflow.frames import AudioFrame, Frame, ReplyDelta, ReplyEnd, Transcript
from graphflow.livekit.room import RoomSettings, connect_room
from graphflow.livekit.server import LiveKitServer
from graphflow.models import ModelHub
from graphflow.node import Node
from graphflow.runtime.cancellation import CancelReport
from graphflow.runtime.runner import GraphRunner
from graphflow.timebase import MS, SECOND
from nodes.io.file_source import decode_file
from nodes.memory import FrameSink, FrameSource
from nodes.room.sink import RoomAudioSink
from nodes.room.source import RoomAudioSource, RoomSourceOptions
from nodes.room.transcription import RoomTranscriber
from nodes.tts.espeak import EspeakTTS
from tests.fixtures import FIXTURES
from tests.livekit.peer import Peer, token
from tests.waiting import WAIT, until

pytestmark = pytest.mark.livekit

SPEECH = FIXTURES / "read_ls_251-137823-0003.wav"  # 4.4 s: "Another engineer rushed toward the door ..."
SHORT = FIXTURES / "cmd_go_forward_ten_meters.wav"  # 2.8 s


async def agent_room(server: LiveKitServer, room: str) -> rtc.Room:
    """The agent side, joined through connect_room with the agent grant."""
    opts = RoomSettings(url=server.url, token=token(server, "agent", room, agent=True))
    return await asyncio.wait_for(connect_room(opts), WAIT)


async def join(server: LiveKitServer, identity: str, room: str) -> Peer:
    """A test participant in ``room``."""
    return await asyncio.wait_for(Peer(server, identity, room).join(), WAIT)


class Running:
    """A graph running in the background; ``finish()`` waits for it (stopping it if asked)."""

    def __init__(self, graph: Graph) -> None:
        self.runner: GraphRunner = graph.compile().runner(RunOptions())
        self.task = asyncio.create_task(self.runner.run())

    async def finish(self, *, stop: bool = False) -> None:
        """Wait for the run to end; ``stop`` ends its sources first."""
        if stop and not self.task.done():
            self.runner.stop()
        try:
            await asyncio.wait_for(asyncio.shield(self.task), WAIT)
        finally:
            if not self.task.done():  # it did not end: abort it, and never leave it behind
                self.runner.stop(drain=False)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.task, WAIT)


class Released(FrameSource):
    """Emits each batch once its condition holds, stamped with the run's generation at that time."""

    def __init__(self, batches: list[tuple[Callable[[], bool], list[Frame]]], frame_type: object) -> None:
        super().__init__([f for _, batch in batches for f in batch], frame_type=frame_type)
        self.batches = batches

    async def run(self) -> None:
        """Wait for each batch's condition, then send its frames."""
        for number, (ready, batch) in enumerate(self.batches, 1):
            # the test's own steps before a later batch are bounded by WAIT each
            await until(ready, f"the condition of {self.name}'s batch {number}", timeout=2 * WAIT)
            for frame in batch:
                await self.out.send(msgspec.structs.replace(frame, generation=self.generation))


class Trigger(Node):
    """Fires its cancellation edges each time ``fired`` is set (``times`` times), keeping the reports."""

    def __init__(self, times: int) -> None:
        super().__init__(name="trigger")
        self.times = times
        self.fired = asyncio.Event()
        self.outcomes: list[CancelReport] = []

    async def run(self) -> None:
        """Wait to be fired; cancel; keep the report; again until done."""
        while len(self.outcomes) < self.times:
            await self.fired.wait()
            self.fired.clear()
            self.outcomes.append(await self.cancel("test"))


def audio(frames: list[Frame]) -> list[AudioFrame]:
    """The audio frames among ``frames``."""
    return [f for f in frames if isinstance(f, AudioFrame)]


def level(frames: list[AudioFrame], path: Path) -> float:
    """Energy of ``frames`` over that of ``path``'s mono mix at their rate (what the peer published)."""
    import soxr

    samples, file_rate = decode_file(path)
    sent = soxr.resample(samples.astype(np.float32).mean(axis=1), file_rate, frames[0].rate)
    got = np.concatenate([f.samples[:, 0] for f in frames]).astype(np.float64)
    return float(np.sum(got**2) / np.sum(sent.astype(np.float64) ** 2))


def loud_frames(frames: list[AudioFrame], threshold: float = 300.0) -> list[AudioFrame]:
    """Frames whose RMS is above ``threshold``."""
    return [f for f in frames if np.sqrt(np.mean(f.samples.astype(np.float64) ** 2)) > threshold]


def contiguous(frames: list[AudioFrame]) -> bool:
    """True when each frame starts where the previous one ended."""
    return all(b.pts == a.pts + a.duration for a, b in itertools.pairwise(frames))


def finals(peer: Peer) -> list[str]:
    """The final transcriptions ``peer`` received."""
    return [text for attrs, _, text in peer.texts if attrs.get("lk.transcription_final") == "true"]


def words(text: str) -> str:
    """``text`` with its whitespace normalised."""
    return " ".join(text.split())


def test_source_emits_the_participants_speech_on_the_clock_and_the_transcriber_publishes(
    livekit_server: LiveKitServer,
) -> None:
    async def main() -> None:
        room_name = "audio-in"
        agent = await agent_room(livekit_server, room_name)
        user = await join(livekit_server, "user", room_name)
        listener = await join(livekit_server, "listener", room_name)
        timeline = Timeline()
        source = RoomAudioSource(name="source", room=agent, timeline=timeline)
        received = FrameSink(name="received")
        transcripts: list[Frame] = [
            Transcript(text="another", segment_id="s1"),
            Transcript(text="another engineer", segment_id="s1"),
            Transcript(text="Another engineer rushed.", segment_id="s1", final=True),
        ]
        feed = Released([(lambda: bool(source.track_sid), transcripts)], Transcript)
        transcriber = RoomTranscriber(name="transcriber", room=agent, source=source)
        g = Graph("audio-in").chain(source, received).chain(feed, transcriber)
        run = Running(g)
        try:
            await asyncio.wait_for(user.speak(SPEECH), WAIT)
            await until(lambda: len(listener.texts) >= 3, "the listener to get the three transcriptions")
            source.stop()
            await run.finish()
        finally:
            await run.finish(stop=True)
            await user.leave()
            await listener.leave()
            await agent.disconnect()

        frames = audio(received.frames)
        assert len(frames) > 100
        assert all(f.rate == 48000 and f.samples.shape == (960, 1) for f in frames)
        assert all(f.samples.dtype == np.int16 and f.duration == 20 * MS for f in frames)
        assert contiguous(frames) and source.gaps == 0 and source.tracks_followed == 1
        assert source.participant_identity == "user" and source.track_sid.startswith("TR_")
        # pts are media time on the conversation's timeline: the last frame ended about when it was made
        assert timeline.base == source.base_time
        last = frames[-1]
        assert abs(timeline.media(last.created) - (last.pts + last.duration)) < SECOND
        # the speech is there, at about its own level (the codec keeps the loudness)
        assert 0.3 < level(frames, SPEECH) < 3.0
        assert len(loud_frames(frames)) * 20 > 1500  # well over a second of loud speech

        # one text stream per update (the listener reads them concurrently: order of arrival may vary)
        finality = {text: attrs["lk.transcription_final"] for attrs, _, text in listener.texts}
        expected = {"another": "false", "another engineer": "false", "Another engineer rushed.": "true"}
        assert finality == expected
        for attrs, sender, _ in listener.texts:
            assert attrs["lk.segment_id"] == "s1"
            assert attrs["lk.transcribed_track_id"] == source.track_sid
            assert sender == "user"  # sent on behalf of the user
        assert transcriber.publisher.sent == 3 and transcriber.publisher.failed == 0

    asyncio.run(main())


def test_source_converts_any_published_format(livekit_server: LiveKitServer) -> None:
    async def main() -> None:
        room_name = "audio-formats"
        agent = await agent_room(livekit_server, room_name)
        user = await join(livekit_server, "user", room_name)
        mono48 = RoomAudioSource(name="mono48", room=agent)
        options = RoomSourceOptions(rate=24000, channels=2, frame_ms=10)
        stereo24 = RoomAudioSource(options, name="stereo24", room=agent)
        got48, got24 = FrameSink(name="got48"), FrameSink(name="got24")
        run = Running(Graph("formats").chain(mono48, got48).chain(stereo24, got24))
        try:
            await asyncio.wait_for(user.speak(SHORT, rate=8000, channels=2), WAIT)
            await run.finish(stop=True)  # the runner stops the sources
        finally:
            await run.finish(stop=True)
            await user.leave()
            await agent.disconnect()

        frames48, frames24 = audio(got48.frames), audio(got24.frames)
        assert frames48 and all(f.rate == 48000 and f.samples.shape == (960, 1) for f in frames48)
        assert frames24 and all(f.rate == 24000 and f.samples.shape == (240, 2) for f in frames24)
        assert contiguous(frames48) and contiguous(frames24)
        assert len(loud_frames(frames48)) * 20 > 800
        assert len(loud_frames(frames24)) * 10 > 800
        both = np.concatenate([f.samples for f in frames24])
        # a mono voice in both channels: Opus codes them jointly, so they agree closely but,
        # after a concealed packet, not always to the sample
        left, right = both[:, 0].astype(np.float64), both[:, 1].astype(np.float64)
        assert np.corrcoef(left, right)[0, 1] > 0.99
        assert np.abs(left - right).mean() < 0.01 * np.abs(left).mean()

    asyncio.run(main())


def test_source_follows_the_participant_when_they_leave_and_rejoin(livekit_server: LiveKitServer) -> None:
    async def main() -> None:
        room_name = "audio-rejoin"
        agent = await agent_room(livekit_server, room_name)
        source = RoomAudioSource(RoomSourceOptions(participant="user"), name="source", room=agent)
        received = FrameSink(name="received")
        run = Running(Graph("rejoin").chain(source, received))
        try:
            first = await join(livekit_server, "user", room_name)
            await asyncio.wait_for(first.speak(SHORT), WAIT)
            await first.leave()
            await until(lambda: "user" not in agent.remote_participants, "the agent to see the user leave")
            count = len(received.frames)
            await asyncio.sleep(1.5)
            assert len(received.frames) - count <= 2  # nothing read while the participant is away
            again = await join(livekit_server, "user", room_name)
            await asyncio.wait_for(again.speak(SHORT), WAIT)
            await again.leave()
            await agent.disconnect()  # the room going away ends the stream
            await run.finish()
        finally:
            await run.finish(stop=True)
            await agent.disconnect()

        frames = audio(received.frames)
        jumps = [i for i, (a, b) in enumerate(itertools.pairwise(frames)) if b.pts != a.pts + a.duration]
        assert source.tracks_followed == 2 and source.gaps == 1 and len(jumps) == 1
        cut = jumps[0] + 1
        before, after = frames[:cut], frames[cut:]
        assert after[0].pts - (before[-1].pts + before[-1].duration) > SECOND  # pts jumped over the absence
        assert len(loud_frames(before)) * 20 > 800 and len(loud_frames(after)) * 20 > 800

    asyncio.run(main())


REPLY = (
    "The quick brown fox jumps over the lazy dog. "
    "Then it runs across the wide green field and into the dark forest. "
    "Nobody sees it again until the very end of the long and quiet winter."
)


def reply_frames(text: str, reply_id: str = "r1") -> list[Frame]:
    """A reply as the language model would stream it: a few deltas, then its end."""
    parts = text.split(". ")
    pieces = [p + ". " for p in parts[:-1]] + parts[-1:]
    deltas: list[Frame] = [ReplyDelta(text=p, reply_id=reply_id) for p in pieces]
    return [*deltas, ReplyEnd(reply_id=reply_id, text=text)]


def speaking_graph(
    agent: rtc.Room, replies: list[tuple[Callable[[], bool], str]], cancels: int = 0
) -> tuple[Graph, RoomAudioSink, Playout, list[PlayoutEvent], Trigger]:
    """Replies (each once its condition holds) → eSpeak → the room sink; a trigger cancels TTS and sink."""
    playout = Playout()
    events: list[PlayoutEvent] = []
    playout.listeners.append(events.append)
    batches = [(ready, reply_frames(text, f"r{i + 1}")) for i, (ready, text) in enumerate(replies)]
    feed = Released(batches, ReplyDelta | ReplyEnd)
    tts = EspeakTTS(name="tts", hub=ModelHub())
    sink = RoomAudioSink(name="sink", room=agent, playout=playout)
    trigger = Trigger(cancels)
    g = Graph("speak").chain(feed, tts, sink)
    g.add(trigger)
    g.cancels(trigger, tts, sink)
    return g, sink, playout, events, trigger


def heard_agent(peer: Peer) -> Callable[[], list[float]]:
    """Arrival times of the loud audio ``peer`` received from the agent so far."""
    return lambda: peer.heard["agent"].loud_at(1000) if "agent" in peer.heard else []


def test_sink_plays_the_reply_and_publishes_its_transcription(livekit_server: LiveKitServer) -> None:
    async def main() -> None:
        room_name = "audio-out"
        agent = await agent_room(livekit_server, room_name)
        user = await join(livekit_server, "user", room_name)
        text = "Hello there. I am the agent, and this is my voice."
        g, sink, _playout, events, _trigger = speaking_graph(agent, [(lambda: "agent" in user.heard, text)])
        run = Running(g)
        try:
            await until(lambda: any(e.kind == "finished" for e in events), "the reply to be played")
            await until(lambda: finals(user) != [], "the final transcription")
            await run.finish()
            assert sink.track_sid not in agent.local_participant.track_publications  # close() unpublished it
        finally:
            await run.finish(stop=True)
            await user.leave()
            await agent.disconnect()

        assert [e.kind for e in events] == ["started", "finished"]
        finished = events[-1]
        assert not finished.interrupted and words(finished.heard) == words(text)
        assert len(heard_agent(user)()) * 10 > 1500  # seconds of loud speech reached the listener
        peak = np.abs(user.heard["agent"].samples()).max()
        assert peak > 5000
        assert sink.replies == 1 and sink.interrupted == 0
        assert all(sender == "agent" for _, sender, _ in user.texts)
        segment = {a["lk.segment_id"] for a, _, _ in user.texts}
        assert len(segment) == 1  # one segment per reply
        assert all(a["lk.transcribed_track_id"] == sink.track_sid for a, _, _ in user.texts)
        interims = [t for a, _, t in user.texts if a["lk.transcription_final"] == "false"]
        assert finals(user) == [finished.heard]
        # an update as each sentence started playing (the listener reads them concurrently)
        assert sorted(words(t) for t in interims) == ["Hello there.", words(text)]

    asyncio.run(main())


def test_sink_stops_on_cancel_and_on_pause_and_resumes_where_it_paused(livekit_server: LiveKitServer) -> None:
    async def main() -> None:
        room_name = "audio-barge-in"
        agent = await agent_room(livekit_server, room_name)
        user = await join(livekit_server, "user", room_name)
        loud = heard_agent(user)
        second = asyncio.Event()
        replies = [(lambda: "agent" in user.heard, REPLY), (second.is_set, REPLY)]
        g, sink, playout, events, trigger = speaking_graph(agent, replies, cancels=2)
        run = Running(g)
        loop = asyncio.get_running_loop()

        async def silent_after(since: float, what: str) -> None:
            await asyncio.sleep(2.0)
            assert not [t for t in loud() if t > since + 1.0], f"still speaking a second after {what}"

        try:
            await until(lambda: len(loud()) > 50, "the agent to be heard")
            # the user talks over the agent: silence at once, then a false interruption resumes it
            playout.pause()
            await silent_after(loop.time(), "the pause")
            playout.resume()
            resumed = loop.time()
            await until(lambda: len([t for t in loud() if t > resumed]) > 50, "the agent to carry on")
            trigger.fired.set()  # cancelled while playing
            await silent_after(loop.time(), "the cancel")
            # the next reply: the gate's way, pause, cancel while paused, resume for what comes next
            second.set()
            began = loop.time()
            await until(lambda: len([t for t in loud() if t > began]) > 50, "the second reply")
            playout.pause()
            trigger.fired.set()
            await until(lambda: len(trigger.outcomes) == 2, "the second cancellation")
            playout.resume()
            await silent_after(loop.time(), "the second cancel")
            await until(lambda: len(finals(user)) == 2, "the final transcriptions")
            await run.finish()
        finally:
            await run.finish(stop=True)
            await user.leave()
            await agent.disconnect()

        first, second_reply = ["started", "paused", "resumed", "finished"], ["started", "paused", "finished"]
        assert [e.kind for e in events] == [*first, *second_reply, "resumed"]
        reports = [outcome.reports["sink"] for outcome in trigger.outcomes]
        assert [r["reply_id"] for r in reports if isinstance(r, dict)] == ["r1", "r2"]
        heard = [r["heard"] for r in reports if isinstance(r, dict)]
        for text in heard:  # words actually played: a strict prefix of the reply
            assert text and words(REPLY).startswith(words(text)) and words(text) != words(REPLY)
        assert [e.heard for e in events if e.kind == "finished"] == heard
        assert all(e.interrupted for e in events if e.kind == "finished")
        assert sink.replies == 2 and sink.interrupted == 2 and sink.pauses == 2
        # only the first pause was resumed: what it took back (at most the queue and a chunk) was pushed again
        assert 0 < sink.replayed <= 48000 * (sink.options.queue_ms + 2 * sink.options.chunk_ms) // 1000
        assert sorted(finals(user)) == sorted(heard)

    asyncio.run(main())
