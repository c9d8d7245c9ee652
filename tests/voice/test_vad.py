"""Silero VAD node and its shared, batching executor: real model, recorded fixtures, virtual clock."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from graphflow import CompileError, ConfigError, Graph, Input, Node, NodeError, RunOptions, VirtualClock
from graphflow.errors import FrameError
from graphflow.frames import (
    AudioFrame,
    Frame,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    SpeechStopped,
    VADEvent,
)
from graphflow.models import ModelCache, ModelHub, ModelMissing
from graphflow.timebase import SECOND, samples_to_ns
from nodes.memory import FrameSink, FrameSource, FrameSourceOptions
from nodes.vad.silero import FORMAT, SileroOptions, SileroVAD
from nodes.vad.silero_executor import WINDOW, SileroExecutor, SileroStream
from tests.engine.helpers import no_leaks, run_plan
from tests.fixtures import model_cache, read_wav

WIN_NS = samples_to_ns(WINDOW, 16000)  # 32 ms
START_TOL = 0.06  # s: detected speech starts vs the manifest's times
END_TOL = 0.2  # s: detected speech ends (Silero's probability lags the audio by ~0.1 s)
DEFAULTS = SileroOptions()


@pytest.fixture(scope="module")
def hub() -> ModelHub:
    return ModelHub(model_cache())


def frames_of(samples: np.ndarray, frame_ms: float = 20, start: int = 0) -> list[AudioFrame]:
    n = round(16000 * frame_ms / 1000)
    return [
        AudioFrame.from_pcm(samples[i : i + n], 16000, pts=start + samples_to_ns(i, 16000), generation=0)
        for i in range(0, len(samples), n)
    ]


def source(frames: list[AudioFrame], name: str = "mic", paced: bool = False) -> FrameSource:
    src = FrameSource(frames, FrameSourceOptions(paced=paced), name=name)
    src.out.format = FORMAT  # FrameSource declares no format; these frames are 16 kHz mono s16
    return src


def vad_graph(
    frames: list[AudioFrame], hub: ModelHub, options: SileroOptions | None = None, *, paced: bool = False
) -> tuple[Graph, SileroVAD, FrameSink]:
    vad = SileroVAD(options, name="vad", hub=hub)
    sink = FrameSink(name="sink")
    return Graph("vad").chain(source(frames, paced=paced), vad, sink), vad, sink


def run_vad(frames: list[AudioFrame], hub: ModelHub, options: SileroOptions | None = None) -> list[Frame]:
    g, _, sink = vad_graph(frames, hub, options)
    run_plan(g.compile())
    return sink.frames


def segments(out: list[Frame]) -> list[tuple[float, float]]:
    """(start, stop) in seconds from paired SpeechStarted/SpeechStopped; checks the pairing."""
    events = [f for f in out if isinstance(f, SpeechStarted | SpeechStopped)]
    assert [type(e) for e in events] == [SpeechStarted, SpeechStopped] * (len(events) // 2)
    pairs = list(zip(events[::2], events[1::2], strict=True))
    for started, stopped in pairs:
        assert isinstance(stopped, SpeechStopped) and stopped.started == started.pts < stopped.pts
    return [(a.pts / SECOND, b.pts / SECOND) for a, b in pairs]


def decisions(out: list[Frame]) -> list[tuple[type, int, int, float]]:
    """What the events decided, without their clock time of creation."""
    return [(type(e), e.pts, getattr(e, "started", 0), e.probability) for e in out if isinstance(e, VADEvent)]


def assert_segments(found: list[tuple[float, float]], expected: list[tuple[float, float]]) -> None:
    assert len(found) == len(expected), f"found {found}, expected {expected}"
    for (start, stop), (want_start, want_stop) in zip(found, expected, strict=True):
        assert abs(start - want_start) <= START_TOL, f"start {start} vs {want_start} in {found}"
        assert abs(stop - want_stop) <= END_TOL, f"stop {stop} vs {want_stop} in {found}"


# Speech times from the manifest notes (the .lab labels, the AMI reference, webrtcvad turns).
MANIFEST_SPEECH = {
    "pause_constructed_ss_0880_0890.wav": [(0.25, 2.77), (4.15, 8.95)],
    "spont_ami_ES2011a_intro.wav": [(1.45, 2.9), (3.35, 4.4)],
    "conv_katie_steve_diarization.wav": [
        (0.12, 1.05),
        (2.01, 3.00),
        (3.87, 11.49),
        (12.39, 20.28),
        (21.33, 23.85),
        (24.69, 25.65),
        (26.49, 28.68),
    ],
}


@pytest.mark.parametrize("name", sorted(MANIFEST_SPEECH))
def test_speech_regions_match_the_manifest(hub: ModelHub, name: str) -> None:
    assert_segments(segments(run_vad(frames_of(read_wav(name)), hub)), MANIFEST_SPEECH[name])


def test_four_turn_conversation_gives_one_region_inside_each_clip(hub: ModelHub) -> None:
    clips = [(0.0, 3.13), (3.63, 6.44), (7.24, 10.96), (11.31, 12.88)]
    found = segments(run_vad(frames_of(read_wav("conv_constructed_4turn.wav")), hub))
    assert len(found) == len(clips), found
    for (start, stop), (lo, hi) in zip(found, clips, strict=True):
        assert lo <= start < stop <= hi + 0.01, (found, clips)


def test_a_lone_yes_is_speech_and_dish_clatter_one_blip_left_to_the_stt(hub: ModelHub) -> None:
    # "yes" alone scores 0.5-0.75 for five windows (160 ms): the default minimum speech hears it
    yes = segments(run_vad(frames_of(read_wav("cmd_yes.wav")), hub))
    assert len(yes) == 1 and 0.3 <= yes[0][0] <= 0.6, yes
    assert segments(run_vad(frames_of(read_wav("cmd_yes.wav")), hub, SileroOptions(min_speech_ms=250))) == []
    # the dish clatter scores as high for as long (0.96-1.15 s): the VAD cannot tell them apart, so it
    # reports one short region and the speech-to-text's no-speech check gives it no words
    pcm = read_wav("neg_noise_only_dishes.wav")
    executor = SileroExecutor.shared(hub)
    stream = SileroStream()
    x = pcm.astype(np.float32) / 32768
    probs = [executor.run_batch([stream], [x[i : i + WINDOW]])[0] for i in range(0, 48 * WINDOW, WINDOW)]
    assert max(probs[28:38]) > 0.5
    blip = segments(run_vad(frames_of(pcm), hub))
    assert len(blip) == 1 and 0.9 <= blip[0][0] <= 1.0 and blip[0][1] - blip[0][0] < 0.4, blip


def test_a_pause_is_announced_before_the_stop_and_withdrawn_when_speech_resumes(hub: ModelHub) -> None:
    resumed = 0
    for name in ("spont_ami_ES2011a_intro.wav", "conv_katie_steve_diarization.wav", "cmd_right_left_up.wav"):
        events = [f for f in run_vad(frames_of(read_wav(name)), hub) if isinstance(f, VADEvent)]
        paused = None
        for event in events:
            if isinstance(event, SpeechPaused):
                assert paused is None
                paused = event
            elif isinstance(event, SpeechResumed):
                assert paused is not None and event.pts > paused.pts
                paused = None
            elif isinstance(event, SpeechStopped):
                # every stop was announced by a pause at the same speech end, 64 ms of quiet in
                assert paused is not None and paused.pts == event.pts and paused.started == event.started
                assert paused.created <= event.created
                paused = None
            else:
                assert paused is None
        resumed += sum(isinstance(e, SpeechResumed) for e in events)
    assert resumed > 0  # short pauses inside the speech that did not stop it
    quiet = [
        f for f in run_vad(frames_of(read_wav("spont_ami_ES2011a_intro.wav")), hub, SileroOptions(pause_ms=0))
    ]
    assert not [f for f in quiet if isinstance(f, SpeechPaused | SpeechResumed)]


def test_audio_passes_unchanged_and_events_follow_the_deciding_frame(hub: ModelHub) -> None:
    frames = frames_of(read_wav("spont_ami_ES2011a_intro.wav"), frame_ms=10)
    out = run_vad(frames, hub)
    assert [f for f in out if isinstance(f, AudioFrame)] == frames
    assert all(a is b for a, b in zip([f for f in out if isinstance(f, AudioFrame)], frames, strict=True))
    start_windows, stop_windows, pause_windows = 5, 10, 2  # 160, 300 and 64 ms in 32 ms windows
    events = 0
    for i, frame in enumerate(out):
        if not isinstance(frame, VADEvent):
            continue
        events += isinstance(frame, SpeechStarted | SpeechStopped)
        before = out[i - 1]
        assert isinstance(before, AudioFrame)
        assert frame.pts % WIN_NS == 0 and 0.0 <= frame.probability <= 1.0
        if isinstance(frame, SpeechStarted):
            decided = frame.pts + start_windows * WIN_NS
            assert frame.probability >= DEFAULTS.threshold
        elif isinstance(frame, SpeechPaused):
            decided = frame.pts + pause_windows * WIN_NS
            assert frame.probability < DEFAULTS.neg_threshold
        elif isinstance(frame, SpeechResumed):
            decided = frame.pts + WIN_NS
            assert frame.probability >= DEFAULTS.neg_threshold
        else:
            decided = frame.pts + stop_windows * WIN_NS
            assert frame.probability < DEFAULTS.neg_threshold
        assert before.pts < decided <= before.pts + before.duration
    assert events == 4


def test_frame_size_and_start_pts_do_not_change_the_decisions(hub: ModelHub) -> None:
    pcm = read_wav("pause_constructed_ss_0880_0890.wav")

    def events(frame_ms: float, start: int = 0) -> list[tuple[type, int, int, float]]:
        out = run_vad(frames_of(pcm, frame_ms, start), hub)
        return [
            (type(e), e.pts - start, getattr(e, "started", start) - start, e.probability)
            for e in out
            if isinstance(e, VADEvent)
        ]

    reference = events(20)
    assert len([e for e in reference if e[0] in (SpeechStarted, SpeechStopped)]) == 4
    assert events(10) == reference
    assert events(7) == reference  # 112-sample frames: windows straddle frames
    assert events(100, start=5 * SECOND + 3) == reference  # several windows per frame, offset timeline


def test_a_gap_in_the_input_keeps_events_on_the_media_timeline(hub: ModelHub) -> None:
    frames = frames_of(read_wav("conv_constructed_4turn.wav"))
    whole = segments(run_vad(frames, hub))
    gap = [f for f in frames if not 6.5 * SECOND <= f.pts < 7.0 * SECOND]  # 0.5 s dropped between turns
    found = segments(run_vad(gap, hub))
    assert len(found) == len(whole) == 4
    for (start, stop), (want_start, want_stop) in zip(found[2:], whole[2:], strict=True):
        assert abs(start - want_start) <= 0.04 and abs(stop - want_stop) <= 0.04  # not 0.5 s early


def test_batched_results_equal_per_stream_results(hub: ModelHub) -> None:
    executor = SileroExecutor.shared(hub)
    names = ["read_ls_251-137823-0003.wav", "spont_ami_ES2011a_intro.wav", "neg_noise_only_dishes.wav"]
    audio = [read_wav(n).astype(np.float32) / 32768 for n in names]
    audio.append(np.zeros(16000 * 4, np.float32))
    n = 120  # windows (3.84 s) of each
    alone_streams = [SileroStream() for _ in audio]
    alone = np.array(
        [
            [executor.run_batch([s], [a[i * WINDOW : (i + 1) * WINDOW]])[0] for i in range(n)]
            for s, a in zip(alone_streams, audio, strict=True)
        ]
    )
    streams = [SileroStream() for _ in audio]
    batched = np.array(
        [executor.run_batch(streams, [a[i * WINDOW : (i + 1) * WINDOW] for a in audio]) for i in range(n)]
    ).T
    assert np.array_equal(alone, batched)
    assert len({tuple(np.round(row[60:], 3)) for row in batched}) == len(audio)  # really different audio
    for one, many in zip(alone_streams, streams, strict=True):
        assert many.windows == n and np.array_equal(one.state, many.state)
        assert np.array_equal(one.context, many.context)
    with pytest.raises(ValueError, match="only once"):
        executor.run_batch([streams[0], streams[0]], [audio[0][:WINDOW], audio[0][:WINDOW]])


def test_concurrent_requests_in_one_iteration_make_one_call(hub: ModelHub) -> None:
    executor = SileroExecutor(hub.cache)  # a private executor: clean stats
    n, at = 40, 16000 * 3  # 1.28 s from 3 s in: pauses and speech
    audio = [read_wav(name)[at : at + n * WINDOW].astype(np.float32) / 32768 for name in MANIFEST_SPEECH]
    windows = [[a[i * WINDOW : (i + 1) * WINDOW] for i in range(n)] for a in audio]
    alone = []
    for per_stream in windows:
        stream = SileroStream()
        alone.append([executor.run_batch([stream], [w])[0] for w in per_stream])

    async def main() -> list[list[float]]:
        streams = [SileroStream() for _ in audio]
        rounds = []
        for i in range(n):
            pending = (executor.probability(s, w[i]) for s, w in zip(streams, windows, strict=True))
            rounds.append(list(await asyncio.gather(*pending)))
        return rounds

    batched = np.array(VirtualClock().run(no_leaks(main())), np.float32).T
    assert np.array_equal(np.array(alone, np.float32), batched)
    assert batched.max() > 0.9 and batched.min() < 0.1  # speech and pauses
    assert executor.stats.batch_sizes == {1: 3 * n, 3: n}  # one call per round of three


def test_two_graphs_in_one_loop_share_the_executor_and_batch(hub: ModelHub) -> None:
    names = ["conv_constructed_4turn.wav", "spont_ami_ES2011a_intro.wav"]
    own_hub = ModelHub(hub.cache)
    graphs = [vad_graph(frames_of(read_wav(n)), own_hub, paced=True) for n in names]
    clock = VirtualClock()

    async def main() -> None:
        await asyncio.gather(*(g.compile().run(RunOptions(clock=clock)) for g, _, _ in graphs))

    clock.run(no_leaks(main()))
    executors = {id(vad.executor) for _, vad, _ in graphs}
    assert executors == {id(SileroExecutor.shared(own_hub))}
    stats = SileroExecutor.shared(own_hub).stats
    assert stats.max_batch == 2 and stats.batch_sizes[2] >= 180  # the 6 s both clips share
    assert stats.windows == sum(len(read_wav(n)) // WINDOW for n in names)
    for (_, _, sink), name in zip(graphs, names, strict=True):
        alone = run_vad(frames_of(read_wav(name)), hub)
        assert decisions(sink.frames) == decisions(alone)


@pytest.mark.parametrize(
    ("samples", "rate", "message"),
    [
        (np.array([0.1, np.nan] * 160, np.float32), 16000, "NaN/inf"),
        (np.array([0.1, np.inf] * 160, np.float32), 16000, "NaN/inf"),
        (np.zeros(320, np.float32), 16000, "takes 16000Hz/1ch/s16"),
        (np.zeros(160, np.int16), 8000, "takes 16000Hz/1ch/s16"),
    ],
)
def test_bad_frames_fail_with_a_frame_error_naming_the_node(
    hub: ModelHub, samples: np.ndarray, rate: int, message: str
) -> None:
    good = frames_of(np.zeros(640, np.int16))
    bad = AudioFrame.from_pcm(samples, rate, pts=good[-1].pts + good[-1].duration)
    g, _, _ = vad_graph([*good, bad], hub)
    with pytest.raises(NodeError) as info:
        run_plan(g.compile())
    assert info.value.node == "vad" and info.value.phase == "on_frame"
    assert isinstance(info.value.__cause__, FrameError)
    assert message in str(info.value) and "'vad'" in str(info.value.__cause__)


def test_missing_model_says_how_to_download_it(tmp_path: Path) -> None:
    empty = ModelHub(ModelCache(tmp_path))
    with pytest.raises(ModelMissing) as info:
        SileroExecutor.shared(empty)
    assert "graphflow models download" in info.value.hint
    g, _, _ = vad_graph(frames_of(np.zeros(640, np.int16)), empty)
    with pytest.raises(NodeError) as failed:
        run_plan(g.compile())
    assert failed.value.node == "vad" and failed.value.phase == "setup"
    assert isinstance(failed.value.__cause__, ModelMissing)


def test_bad_options_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="neg_threshold <= threshold"):
        SileroVAD(SileroOptions(threshold=0.4, neg_threshold=0.6))
    with pytest.raises(ConfigError, match=">= 0 ms"):
        SileroVAD(SileroOptions(min_silence_ms=-1))


def test_output_carries_audio_and_vad_events_to_typed_consumers(hub: ModelHub) -> None:
    class EventSink(Node):  # a typical consumer (turn detection): the in-band stream
        inp = Input(AudioFrame | VADEvent)

        def __init__(self, name: str) -> None:
            super().__init__(name=name)
            self.events: list[VADEvent] = []

        def on_frame(self, frame: Frame) -> None:
            if isinstance(frame, VADEvent):
                self.events.append(frame)

    class AudioOnly(Node):
        inp = Input(AudioFrame)

        def on_frame(self, frame: AudioFrame) -> None:
            pass

    g, vad, sink = vad_graph(frames_of(read_wav("spont_ami_ES2011a_intro.wav")), hub)
    events = EventSink("events")
    g.connect(vad.out, events.inp)
    run_plan(g.compile())
    assert events.events == [f for f in sink.frames if isinstance(f, VADEvent)]
    assert len([e for e in events.events if isinstance(e, SpeechStarted | SpeechStopped)]) == 4
    g2, vad2, _ = vad_graph([], hub)
    g2.connect(vad2.out, AudioOnly(name="audio_only").inp)
    with pytest.raises(CompileError, match=r"vad.out emits AudioFrame \| VADEvent"):
        g2.compile()
