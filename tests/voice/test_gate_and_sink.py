"""Playout and barge-in: the sink plays in real time; the gate pauses, resumes or cancels it."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from graphflow import Frame, Graph
from graphflow.conversation.playout import Playout, PlayoutEvent, Timeline
from graphflow.frames import SpeechAudio, SpeechPaused, SpeechResumed, SpeechStarted, SpeechStopped, VADEvent
from graphflow.runtime.clock import VirtualClock
from graphflow.timebase import MS, samples_to_ns
from nodes.gate.interruption import GateOptions, InterruptionGate
from nodes.io.file_sink import FileSink, FileSinkOptions
from nodes.memory import FrameSource, FrameSourceOptions

from ..engine.helpers import run_plan

RATE = 16000
TEXT = "one two three four five six seven eight nine ten"


def speech(
    seconds: float = 2.0, text: str = TEXT, reply_id: str = "r1", segment: int = 0
) -> list[SpeechAudio]:
    """A reply of ``seconds`` of tone speaking ``text``, as 20 ms frames."""
    total = int(RATE * seconds)
    pcm = (np.sin(np.arange(total) / 5) * 8000).astype(np.int16).reshape(-1, 1)
    step = RATE // 50
    frames = []
    for offset in range(0, total, step):
        chunk = pcm[offset : offset + step]
        frames.append(
            SpeechAudio(
                samples=chunk,
                rate=RATE,
                pts=samples_to_ns(offset, RATE),
                duration=samples_to_ns(len(chunk), RATE),
                reply_id=reply_id,
                text=text,
                segment=segment,
                offset=offset,
                total=total,
                last=offset + step >= total,
            )
        )
    return frames


VAD_EVENTS: dict[str, type[VADEvent]] = {
    "start": SpeechStarted,
    "stop": SpeechStopped,
    "pause": SpeechPaused,
    "resume": SpeechResumed,
}


def vad(events: list[tuple[str, int]]) -> list[Frame]:
    return [VAD_EVENTS[kind](pts=ms * MS, created=ms * MS, probability=0.9) for kind, ms in events]


def barge_in_graph(
    user: list[tuple[str, int]], gate_options: GateOptions | None = None
) -> tuple[Graph, FileSink, InterruptionGate, list[PlayoutEvent]]:
    timeline = Timeline()
    timeline.start(0)
    playout = Playout(timeline)
    events: list[PlayoutEvent] = []
    playout.listeners.append(events.append)
    gate = InterruptionGate(gate_options, name="gate", playout=playout)
    sink = FileSink(name="sink", playout=playout)
    agent = FrameSource(speech(), name="tts")
    mic = FrameSource(vad(user), FrameSourceOptions(paced=True), name="vad", frame_type=VADEvent)
    g = Graph().connect(agent.out, gate.audio).connect(mic.out, gate.vad).connect(gate.out, sink.inp)
    g.cancels(gate, sink)
    return g, sink, gate, events


def kinds(events: list[PlayoutEvent]) -> list[str]:
    return [e.kind for e in events]


def test_sink_plays_in_real_time_and_hears_everything() -> None:
    g, _sink, _gate, events = barge_in_graph([])
    run_plan(g.compile())
    assert kinds(events) == ["started", "finished"]
    started, finished = events
    assert started.at == 0 and finished.at == 2000 * MS  # two seconds of audio take two seconds
    assert finished.heard == TEXT and not finished.interrupted


def test_barge_in_pauses_at_once_then_cancels_and_reports_what_was_heard() -> None:
    g, sink, gate, events = barge_in_graph([("start", 500), ("stop", 1500)])
    runner = run_plan(g.compile())
    assert kinds(events) == ["started", "paused", "finished", "resumed"]
    paused, finished = events[1], events[2]
    assert paused.at == 500 * MS  # silent at the user's first word
    assert finished.interrupted and finished.at == 800 * MS  # confirmed after min_duration
    # a quarter of the audio was played: the first words only
    assert finished.heard == "one two"
    [report] = runner.cancellations
    assert report.reports["sink"] == {"reply_id": "r1", "heard": "one two"}
    assert report.flushed["sink"] > 0
    assert gate.interruptions == 1 and gate.false_interruptions == 0
    played = sum(f.samples_per_channel for _, f in sink.agent)
    assert played == RATE // 2  # 0.5 s played, nothing after the pause


def test_speech_resuming_after_the_pause_that_ended_the_turn_is_a_barge_in() -> None:
    # the turn ended at a pause (the VAD had not called the stop): when the user goes on, the
    # VAD says "resumed", not "started", and that too must stop the reply
    g, _sink, gate, events = barge_in_graph([("resume", 500), ("pause", 1400), ("stop", 1500)])
    run_plan(g.compile())
    assert kinds(events) == ["started", "paused", "finished", "resumed"]
    assert events[1].at == 500 * MS and events[2].interrupted and events[2].heard == "one two"
    assert gate.interruptions == 1


def test_false_interruption_resumes_where_it_paused() -> None:
    g, _sink, gate, events = barge_in_graph([("start", 500), ("stop", 600)])
    runner = run_plan(g.compile())
    assert kinds(events) == ["started", "paused", "resumed", "finished"]
    _paused, resumed, finished = events[1:]
    assert resumed.at == 600 * MS + 2000 * MS  # after the false-interruption timeout
    assert finished.heard == TEXT and not finished.interrupted
    assert finished.at == resumed.at + 1500 * MS  # the remaining 1.5 s played after resuming
    assert runner.cancellations == [] and gate.false_interruptions == 1


def test_false_interruption_can_cancel_instead_of_resuming() -> None:
    options = GateOptions(resume_false_interruption=False, false_interruption_timeout_ms=500)
    g, _sink, _gate, events = barge_in_graph([("start", 500), ("stop", 600)], options)
    runner = run_plan(g.compile())
    assert events[2].kind == "finished" and events[2].interrupted
    assert len(runner.cancellations) == 1


def test_speech_while_the_agent_is_quiet_is_not_an_interruption() -> None:
    g, _sink, gate, events = barge_in_graph([("start", 2500), ("stop", 3500)])
    run_plan(g.compile())
    assert kinds(events) == ["started", "finished"] and gate.interruptions == 0


def test_sink_writes_the_conversation_timeline(tmp_path: Path) -> None:
    timeline = Timeline()
    playout = Playout(timeline)
    out = tmp_path / "out.wav"
    sink = FileSink(FileSinkOptions(path=str(out), rate=16000), playout=playout)
    late = [
        SpeechAudio(**{**{f: getattr(fr, f) for f in fr.__struct_fields__}, "pts": fr.pts})
        for fr in speech(1.0, "hello there")
    ]
    source = FrameSource(late, FrameSourceOptions(paced=False))
    clock = VirtualClock(start=0)
    timeline.start(-3000 * MS)  # the conversation began 3 s before the reply
    run_plan(Graph().chain(source, sink).compile(), clock=clock)
    with wave.open(str(out)) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    assert abs(len(pcm) - 4 * RATE) <= 2
    assert np.abs(pcm[: 3 * RATE - 10]).max() == 0  # silence while the agent was quiet
    assert np.abs(pcm[3 * RATE + 10 :]).max() > 1000
