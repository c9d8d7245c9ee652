"""Room audio timing on a real server: the sink skips a reply's opening silence, the taps see the audio."""

from __future__ import annotations

import asyncio
import itertools

import numpy as np
import pytest

from graphflow import Graph
from graphflow.conversation.playout import Playout, PlayoutEvent, Timeline
from graphflow.frames import Frame, SpeechAudio
from graphflow.livekit.server import LiveKitServer
from graphflow.timebase import MS, samples_to_ns
from nodes.memory import FrameSink
from nodes.room.inbox import Received
from nodes.room.sink import SILENCE, Pushed, RoomAudioSink
from nodes.room.source import RoomAudioSource, RoomSourceOptions
from tests.livekit.test_room_audio import SHORT, Released, Running, agent_room, join
from tests.waiting import until

pytestmark = pytest.mark.livekit

RATE = 24000  # the speech's rate: the sink resamples it to 48 kHz


def reply(reply_id: str, quiet_ms: int, tone_ms: int, text: str = "Hello there.") -> list[Frame]:
    """One sentence: ``quiet_ms`` of near silence (a TTS's opening), then a tone, in 20 ms frames."""
    rng = np.random.default_rng(1)
    quiet = rng.integers(-3, 4, RATE * quiet_ms // 1000)
    t = np.arange(RATE * tone_ms // 1000) / RATE
    pcm = np.concatenate([quiet, 8000 * np.cos(2 * np.pi * 440 * t)]).astype(np.int16)
    step = RATE // 50
    frames: list[Frame] = []
    for offset in range(0, len(pcm), step):
        chunk = pcm[offset : offset + step].reshape(-1, 1)
        pts = samples_to_ns(offset, RATE)
        frames.append(
            SpeechAudio(
                samples=chunk,
                rate=RATE,
                pts=pts,
                duration=samples_to_ns(offset + len(chunk), RATE) - pts,
                reply_id=reply_id,
                text=text,
                offset=offset,
                total=len(pcm),
                last=offset + step >= len(pcm),
            )
        )
    return frames


def test_the_sink_skips_a_replys_opening_silence_and_plays_the_rest_without_a_gap(
    livekit_server: LiveKitServer,
) -> None:
    async def main() -> None:
        room_name = "audio-opening"
        agent = await agent_room(livekit_server, room_name)
        user = await join(livekit_server, "user", room_name)
        playout = Playout()
        events: list[PlayoutEvent] = []
        playout.listeners.append(events.append)
        sink = RoomAudioSink(name="sink", room=agent, playout=playout)
        pushed: list[Pushed] = []
        sink.taps.append(pushed.append)
        subscribed = lambda: "agent" in user.heard  # noqa: E731
        first_done = lambda: [e for e in events if e.kind == "finished"] != []  # noqa: E731
        replies = [(subscribed, reply("r1", 150, 400)), (first_done, reply("r2", 300, 400))]
        feed = Released(replies, SpeechAudio)
        run = Running(Graph("opening").chain(feed, sink))
        try:
            await until(lambda: len([e for e in events if e.kind == "finished"]) == 2, "both replies played")
            await asyncio.sleep(0.3)  # the last audio arrives
            await run.finish(stop=True)
        finally:
            await run.finish(stop=True)
            await user.leave()
            await agent.disconnect()

        # r1: its 150 ms opening is skipped whole; r2: 200 ms of its 300 ms (skip_silence_ms)
        assert sink.options.skip_silence_ms == 200
        assert sink.skipped == RATE * 150 // 1000 + RATE * 200 // 1000
        started = [e.at for e in events if e.kind == "started"]
        r1 = [p for p in pushed if p.at < started[1]]
        r2 = [p for p in pushed if p.at >= started[1]]
        assert np.abs(r1[0].samples).max() >= SILENCE  # the first audio played is the sound
        assert np.abs(r2[0].samples).max() < SILENCE  # 100 ms of quiet were left to play
        quiet = list(itertools.takewhile(lambda p: np.abs(p.samples).max() < SILENCE, r2))
        # about 100 ms (the piece where the tone begins counts as sound)
        assert 48000 * 75 // 1000 <= sum(len(p.samples) for p in quiet) <= 48000 * 100 // 1000
        assert [e.heard for e in events if e.kind == "finished"] == ["Hello there.", "Hello there."]
        # the tone arrives whole: 400 ms of loud 10 ms frames per reply, without a break (the
        # codec's onset and decay may leave the 10 ms at either edge under the threshold; a few
        # more may follow: the receiver conceals the end of a stream with a fading echo)
        loud = user.heard["agent"].loud_at(1000)
        breaks = [i + 1 for i, (a, b) in enumerate(itertools.pairwise(loud)) if b - a > 0.05]
        runs = [loud[i:j] for i, j in itertools.pairwise([0, *breaks, len(loud)])]
        assert len(runs) == 2 and all(38 <= len(r) <= 50 for r in runs), [len(r) for r in runs]
        # handed over as fast as the queue takes it: no piece waited for one not yet queued
        for p in r1[1:]:
            assert p.queued <= (sink.options.queue_ms + 2 * sink.options.chunk_ms) * MS

    asyncio.run(main())


def test_the_source_tap_sees_each_piece_on_the_conversations_timeline(livekit_server: LiveKitServer) -> None:
    async def main() -> None:
        room_name = "audio-tap"
        agent = await agent_room(livekit_server, room_name)
        user = await join(livekit_server, "user", room_name)
        timeline = Timeline()
        options = RoomSourceOptions(rate=16000, frame_ms=10)
        source = RoomAudioSource(options, name="source", room=agent, timeline=timeline)
        received: list[Received] = []
        source.taps.append(received.append)
        frames = FrameSink(name="frames")
        run = Running(Graph("tap").chain(source, frames))
        try:
            await asyncio.wait_for(user.speak(SHORT), 30)
            await run.finish(stop=True)
        finally:
            await run.finish(stop=True)
            await user.leave()
            await agent.disconnect()

        assert received and all(len(r.samples) == 160 for r in received)  # the SDK's 10 ms at 16 kHz
        assert all(f.samples.shape == (160, 1) for f in frames.frames)  # type: ignore[attr-defined]
        for a, b in itertools.pairwise(received):  # pieces follow each other on the timeline
            assert b.pts == a.pts + samples_to_ns(len(a.samples), 16000)
        base = timeline.base or 0
        # each piece arrived about when its media time says it ended (the loop may run a little late)
        lags = [r.at - (base + r.pts + samples_to_ns(len(r.samples), 16000)) for r in received]
        assert abs(float(np.median(lags))) < 50 * MS

    asyncio.run(main())
