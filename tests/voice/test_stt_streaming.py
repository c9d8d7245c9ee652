"""Streaming finals: the STT recognizes at the VAD's pause and the final no longer waits for the stop.

A provider of known delay on the virtual clock stands in for the model, so the tests see
exactly when each recognition starts, what audio it gets, and when each transcript leaves.
"""

from __future__ import annotations

import numpy as np

from graphflow import Graph, RunOptions, VirtualClock
from graphflow.frames import (
    AudioFormat,
    AudioFrame,
    Frame,
    SampleFormat,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    SpeechStopped,
    Transcript,
    VADEvent,
)
from graphflow.timebase import MS, samples_to_ns
from nodes.memory import FrameSink, FrameSource, FrameSourceOptions
from nodes.stt.segmenter import Recognition, SegmentedSTT, SegmentedSTTOptions

FRAME = 320  # 20 ms


class TimedProvider(SegmentedSTT):
    """Answers ``delay_ms`` after each call with the length of audio it was given."""

    def __init__(self, delay_ms: int, options: SegmentedSTTOptions | None = None) -> None:
        super().__init__(options or SegmentedSTTOptions(interim_interval_ms=0), name="stt")
        self.delay_ms = delay_ms
        self.calls: list[tuple[int, int]] = []  # (clock time, samples)

    async def recognize(self, pcm: np.ndarray) -> Recognition:
        self.calls.append((self.now(), pcm.shape[0]))
        await self.clock.sleep_until(self.now() + self.delay_ms * MS)
        return Recognition(text=f"{pcm.shape[0]} samples")


def stream(seconds: float, events: list[tuple[float, Frame]]) -> list[Frame]:
    """20 ms frames of a quiet tone with each event placed after the frame covering its time (s)."""
    pending = sorted(events, key=lambda e: e[0])
    frames: list[Frame] = []
    pcm = (np.sin(np.arange(int(seconds * 16000)) / 5) * 2000).astype(np.int16)
    for i in range(0, pcm.shape[0] - FRAME + 1, FRAME):
        frame = AudioFrame.from_pcm(pcm[i : i + FRAME], 16000, pts=samples_to_ns(i, 16000))
        frames.append(frame)
        while pending and pending[0][0] * 1e9 <= frame.pts + frame.duration:
            frames.append(pending.pop(0)[1])
    return frames + [e for _, e in pending]


def ns(seconds: float) -> int:
    return round(seconds * 1e9)


def sent(seconds: float) -> int:
    """When the source sends an event placed at ``seconds``: with the 20 ms frame that covers it."""
    return ns(np.ceil(round((seconds - 0.02) / 0.02, 6)) * 0.02)


def run(stt: TimedProvider, frames: list[Frame]) -> list[tuple[int, Transcript]]:
    source = FrameSource(frames, FrameSourceOptions(paced=True), name="src")
    source.out.frame_type = AudioFrame | VADEvent
    source.out.format = AudioFormat(16000, 1, SampleFormat.S16)
    sink = FrameSink(name="sink")
    clock = VirtualClock()
    clock.run(Graph("stt").chain(source, stt, sink).compile().run(RunOptions(clock=clock)))
    return [(t, f) for f, t in zip(sink.frames, sink.arrivals, strict=True) if isinstance(f, Transcript)]


def speech(
    start: float, end: float, *, resume: float | None = None, stop_end: float | None = None
) -> list[tuple[float, Frame]]:
    """Start at ``start``; quiet from ``end`` (paused 64 ms later); resumed, or stopped 300 ms later."""
    events: list[tuple[float, Frame]] = [
        (start + 0.16, SpeechStarted(pts=ns(start), probability=0.9)),
        (end + 0.064, SpeechPaused(pts=ns(end), started=ns(start), probability=0.1)),
    ]
    if resume is not None:
        events.append((resume + 0.032, SpeechResumed(pts=ns(resume), probability=0.9)))
        end = stop_end if stop_end is not None else end
        events.append((end + 0.064, SpeechPaused(pts=ns(end), started=ns(start), probability=0.1)))
    events.append((end + 0.3, SpeechStopped(pts=ns(end), started=ns(start), probability=0.1)))
    return events


def test_the_final_leaves_one_recognition_after_the_pause_before_the_stop() -> None:
    stt = TimedProvider(delay_ms=120)
    out = run(stt, stream(3.0, speech(0.5, 1.8)))
    assert len(out) == 1 and out[0][1].final
    arrived, final = out[0]
    assert final.start == ns(0.5) and final.end == ns(1.8)
    assert arrived == sent(1.8 + 0.064) + 120 * MS  # the pause, then one recognition: not the stop's 300 ms
    assert len(stt.calls) == 1  # the stop reuses the pause's recognition
    # the audio recognized runs from the pre-roll to what had arrived at the pause (1.88 s: short of
    # the end of speech + the 100 ms end pad, and quiet from the end of speech on)
    assert stt.calls[0][1] == round((1.88 - (0.5 - 0.3)) * 16000)


def test_speech_that_resumes_before_the_guess_is_ready_withdraws_it() -> None:
    stt = TimedProvider(delay_ms=200)
    out = run(stt, stream(4.0, speech(0.5, 1.2, resume=1.35, stop_end=2.4)))
    assert [(f.start, f.end) for _, f in out] == [(ns(0.5), ns(2.4))]  # one segment, all of the speech
    assert out[0][0] == sent(2.4 + 0.064) + 200 * MS
    assert len(stt.calls) == 2  # the withdrawn guess, then the one that stood


def test_speech_that_resumes_after_the_guess_left_goes_on_in_a_new_segment() -> None:
    stt = TimedProvider(delay_ms=50)
    out = run(stt, stream(4.0, speech(0.5, 1.2, resume=1.45, stop_end=2.4)))
    assert [(f.start, f.end) for _, f in out] == [(ns(0.5), ns(1.2)), (ns(1.45), ns(2.4))]
    assert out[0][1].segment_id != out[1][1].segment_id and all(f.final for _, f in out)


def test_without_speculative_finals_the_final_waits_for_the_stop() -> None:
    stt = TimedProvider(
        delay_ms=120, options=SegmentedSTTOptions(interim_interval_ms=0, speculative_finals=False)
    )
    out = run(stt, stream(3.0, speech(0.5, 1.8)))
    assert [t for t, _ in out] == [sent(1.8 + 0.3) + 120 * MS]
