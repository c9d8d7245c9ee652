"""STT nodes on VAD-delimited speech: accuracy (WER) per provider, interims, order, errors.

``python -m tests.voice.test_stt`` prints WER and ms per utterance for the local providers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from graphflow import ConfigError, FrameError, Graph, NodeError, ProviderError, RealtimeClock, RunOptions
from graphflow.bench.wer import normalize, wer, word_errors
from graphflow.frames import (
    AudioFormat,
    AudioFrame,
    Frame,
    SampleFormat,
    SpeechStarted,
    SpeechStopped,
    Transcript,
    VADEvent,
)
from graphflow.models import ModelCache, ModelHub, ModelMissing
from graphflow.timebase import MS, SECOND, from_seconds, samples_to_ns
from nodes.memory import FrameSink, FrameSource, FrameSourceOptions
from nodes.stt.moonshine import MoonshineSTT, runs_here
from nodes.stt.segmenter import Recognition, SegmentedSTT, SegmentedSTTOptions
from nodes.stt.whisper import EOT_LIMIT, WhisperOptions, WhisperSTT, repeats, windows, within_audio
from tests.engine.helpers import run_plan
from tests.fixtures import MOONSHINE_CANNOT_RUN, cpu_has_avx512, manifest, model_cache, read_wav


# ------------------------------------------------------------------ word error rate
def test_wer_function() -> None:
    assert wer("go forward ten meters", "Go forward 10 metres.") == 0
    assert wer("And Mister John", "and Mr. John") == 0
    assert wer("a b c d", "a x c") == 0.5
    assert wer("one two", "") == 1.0
    assert wer("yes", "yes yes yes") == 2.0
    assert wer("I'm glad it isn't", "I am glad it is not") == 0


# ------------------------------------------------------------------ the VAD stream
FRAME = 320  # 20 ms at 16 kHz


def vad_stream(
    pcm: np.ndarray, speech: list[tuple[float, float]], *, start_lag_ms: int = 200, stop_lag_ms: int = 300
) -> list[Frame]:
    """20 ms AudioFrames with SpeechStarted/Stopped inserted late, as a VAD would."""
    events: list[tuple[int, Frame]] = []
    for begin, end in speech:
        b, e = from_seconds(begin), from_seconds(end)
        events.append((b + start_lag_ms * MS, SpeechStarted(pts=b, probability=0.9)))
        events.append((e + stop_lag_ms * MS, SpeechStopped(pts=e, started=b, probability=0.1)))
    frames: list[Frame] = []
    for i in range(0, pcm.shape[0] - FRAME + 1, FRAME):
        frame = AudioFrame.from_pcm(pcm[i : i + FRAME], 16000, pts=samples_to_ns(i, 16000))
        frames.append(frame)
        while events and events[0][0] <= frame.pts + frame.duration:
            frames.append(events.pop(0)[1])
    frames += [e for _, e in events]
    return frames


def energy_speech(pcm: np.ndarray, threshold_db: float = -40.0) -> tuple[float, float]:
    """First and last 20 ms window louder than ``threshold_db`` (dBFS), in seconds."""
    windows = pcm[: pcm.shape[0] // FRAME * FRAME].astype(np.float32).reshape(-1, FRAME) / 32768
    level = 10 * np.log10(np.mean(windows**2, axis=1) + 1e-12)
    loud = np.flatnonzero(level > threshold_db)
    return float(loud[0] * 0.02), float((loud[-1] + 1) * 0.02)


def transcribe_stream(
    stt: SegmentedSTT, frames: list[Frame], *, paced: bool = True, realtime: bool = False
) -> list[Transcript]:
    """Run source -> stt -> sink on the virtual (or real) clock; the transcripts in arrival order."""
    source = FrameSource(frames, FrameSourceOptions(paced=paced), name="src")
    source.out.frame_type = AudioFrame | VADEvent  # what a VAD node's output carries
    source.out.format = AudioFormat(16000, 1, SampleFormat.S16)
    sink = FrameSink(name="sink")
    g = Graph("stt")
    g.chain(source, stt, sink)
    if realtime:
        asyncio.run(asyncio.wait_for(g.compile().run(RunOptions(clock=RealtimeClock())), 60))
    else:
        run_plan(g.compile())
    out = [f for f in sink.frames if isinstance(f, Transcript)]
    assert len(out) == len(sink.frames)
    return out


@pytest.fixture(scope="module")
def hub() -> ModelHub:
    """One hub for the module: the Whisper model loads once."""
    return ModelHub(model_cache())


# ------------------------------------------------------------------ accuracy per provider
ACCURACY_FILES = sorted(f for f in manifest() if f.startswith(("read_", "cmd_")))
WHISPER_WER = 0.06
"""Measured (docs/nodes/stt.md): 0.039 (6 errors / 154 words) on an Intel Xeon (AVX-512, MKL), 0.052 (8)
on an AMD EPYC (AVX2, oneDNN; float32 gives the same 8). The kernels differ by CPU, so do a few words;
a loop into the window's padding costs 20 or more."""
MOONSHINE_WER = 0.07  # measured 0.045 (7 / 154)


def corpus_wer(
    recognize: Callable[[np.ndarray], Recognition], repeat: int = 1
) -> Iterator[tuple[str, str, int, int, float]]:
    """(file, text, errors, words, best ms of ``repeat`` calls) per accuracy fixture."""
    fixtures = manifest()
    for name in ACCURACY_FILES:
        pcm = read_wav(name).astype(np.float32) / 32768
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            text = recognize(pcm).text
            times.append((time.perf_counter() - t0) * 1000)
        ms = min(times)
        errors, words = word_errors(fixtures[name].transcript, text)
        yield name, text, errors, words, ms


def _provider_recognize(stt: SegmentedSTT) -> Callable[[np.ndarray], Recognition]:
    asyncio.run(stt.setup())
    return lambda pcm: asyncio.run(stt.recognize(pcm))


@pytest.mark.slow
@pytest.mark.parametrize(("make", "limit"), [(WhisperSTT, WHISPER_WER), (MoonshineSTT, MOONSHINE_WER)])
def test_provider_wer(hub: ModelHub, make: Callable[..., SegmentedSTT], limit: float) -> None:
    if make is MoonshineSTT and not cpu_has_avx512():  # its library stops the process here: a clear error
        with pytest.raises(ProviderError, match=MOONSHINE_CANNOT_RUN):
            asyncio.run(make(hub=hub).setup())
        return
    rows = list(corpus_wer(_provider_recognize(make(hub=hub))))
    errors = sum(r[2] for r in rows)
    words = sum(r[3] for r in rows)
    assert errors / words <= limit, [(r[0], r[1]) for r in rows if r[2]]
    assert all(r[2] <= max(1, r[3] // 2) for r in rows), rows  # no utterance lost or looping


def test_moonshine_trial_load_agrees_with_the_cpu(hub: ModelHub) -> None:
    """The library runs where the CPU has AVX-512; elsewhere the trial in a child process says why
    and this process goes on (an in-process load would stop it with SIGILL)."""
    why_not = runs_here(hub.cache.path("moonshine-base"))
    if cpu_has_avx512():
        assert why_not == ""
    else:
        assert "AVX-512" in why_not


# ------------------------------------------------------------------ behaviour in a graph
LONG = "read_ls_1089-134686-0000.wav"


def test_interims_then_final_on_long_read(hub: ModelHub) -> None:
    pcm = read_wav(LONG)
    begin, end = energy_speech(pcm)
    stt = WhisperSTT(WhisperOptions(interim_interval_ms=1000), name="stt", hub=hub)
    out = transcribe_stream(stt, vad_stream(pcm, [(begin, end)]))
    interims, finals = [t for t in out if not t.final], [t for t in out if t.final]
    assert len(finals) == 1 and out[-1] is finals[0]
    assert len(interims) >= 5  # ~9.7 s of speech, one interim per second of new speech
    assert {t.segment_id for t in out} == {finals[0].segment_id}
    assert [t.end for t in interims] == sorted(t.end for t in interims)
    final = finals[0]
    assert final.start == final.pts == from_seconds(begin) and final.end == from_seconds(end)
    assert final.language == "en" and 0 < final.confidence <= 1
    assert wer(manifest()[LONG].transcript, final.text) <= 0.1, final.text
    # an interim covers a prefix of the speech: its words start the final's
    assert normalize(final.text)[:3] == normalize(interims[-1].text)[:3]


TURNS = [(0.0, 3.13), (3.63, 6.44), (7.24, 10.96), (11.31, 12.875)]
TURN_TEXT = [
    "This isn't part of your testing routine, is it?",
    "Lord, but I'm glad to see you again, Phil.",
    "I tell you it is not poison, she cried",
    "Will we ever forget it.",
]


@pytest.mark.parametrize("paced", [True, False])
def test_conversation_segments_in_order(hub: ModelHub, paced: bool) -> None:
    pcm = read_wav("conv_constructed_4turn.wav")
    stt = WhisperSTT(WhisperOptions(interim_interval_ms=1000), name="stt", hub=hub)
    out = transcribe_stream(stt, vad_stream(pcm, TURNS), paced=paced)
    finals = [t for t in out if t.final]
    assert [t.start for t in finals] == [from_seconds(b) for b, _ in TURNS]
    ids = [t.segment_id for t in finals]
    assert len(set(ids)) == 4
    counts = [word_errors(ref, t.text) for ref, t in zip(TURN_TEXT, finals, strict=True)]
    # whisper base hears turn 4 as "Will be over for greater" (whatever the cut): 4/32 words
    assert sum(e for e, _ in counts) / sum(n for _, n in counts) <= 0.2, [t.text for t in finals]
    assert all(e <= 1 for e, _ in counts[:3]), [t.text for t in finals]
    for t in out:  # interims precede their final, and segments do not interleave
        k = ids.index(t.segment_id)
        assert out.index(t) <= out.index(finals[k])
        assert k == 0 or out.index(t) > out.index(finals[k - 1])
    if paced:
        assert any(not t.final for t in out)


# ------------------------------------------------------------------ segmentation, scripted
class Recorder(SegmentedSTT):
    """A fake provider: records the audio it is given, answers with its first sample."""

    def __init__(self, options: SegmentedSTTOptions | None = None, text: str = "x") -> None:
        super().__init__(options, name="rec")
        self.calls: list[np.ndarray] = []
        self.text = text

    async def recognize(self, pcm: np.ndarray) -> Recognition:
        self.calls.append(pcm)
        return Recognition(text=self.text and f"{self.text}{len(self.calls)}")


def ramp(seconds: float) -> np.ndarray:
    """Samples whose value is their 20 ms frame index (so positions can be read back)."""
    n = int(seconds * 50)
    return np.repeat(np.arange(n, dtype=np.int16), FRAME)


def test_preroll_pad_and_timestamps() -> None:
    stt = Recorder(SegmentedSTTOptions(interim_interval_ms=0, preroll_ms=300, end_pad_ms=100))
    out = transcribe_stream(stt, vad_stream(ramp(5.0), [(1.0, 3.0)]))
    assert len(out) == 1 and out[0].final and not stt.calls[0].size % FRAME
    pcm = np.round(stt.calls[0] * 32768).astype(int)
    assert pcm[0] == 35 and pcm[-1] == 154  # frames 35 (0.7 s) .. 154 (end 3.1 s)
    assert (out[0].start, out[0].end, out[0].duration) == (SECOND, 3 * SECOND, 2 * SECOND)


def test_long_speech_is_cut_at_max_segment() -> None:
    stt = Recorder(SegmentedSTTOptions(interim_interval_ms=0, preroll_ms=0, max_segment_ms=1000))
    out = transcribe_stream(stt, vad_stream(ramp(4.0), [(0.5, 3.0)]))
    assert [t.final for t in out] == [True, True, True]
    assert len({t.segment_id for t in out}) == 3
    assert [t.start for t in out] == [500 * MS, 1500 * MS, 2500 * MS]
    assert sum(c.shape[0] for c in stt.calls) == 16000 * 2.5 + 1600  # + end pad


def test_empty_final_and_open_segment_at_end() -> None:
    stt = Recorder(SegmentedSTTOptions(interim_interval_ms=500), text="")
    frames = vad_stream(ramp(3.0), [(0.5, 1.5)])
    stop = next(i for i, f in enumerate(frames) if isinstance(f, SpeechStopped))
    frames.insert(stop + 1, SpeechStopped(pts=1600 * MS))  # a stop without a start is ignored
    at = next(i for i, f in enumerate(frames) if f.pts == 2 * SECOND and isinstance(f, AudioFrame))
    frames.insert(at, SpeechStarted(pts=2 * SECOND))  # a start never stopped: closed at the end
    out = transcribe_stream(stt, frames)
    assert [(t.final, t.text) for t in out] == [(True, ""), (True, "")]  # no empty interims
    assert (out[0].start, out[0].end) == (500 * MS, 1500 * MS)
    assert (out[1].start, out[1].end) == (2 * SECOND, 3 * SECOND)
    quiet = Recorder(SegmentedSTTOptions(emit_empty_finals=False), text="")
    assert transcribe_stream(quiet, vad_stream(ramp(3.0), [(0.5, 1.5)])) == []


class FlakyInterims(Recorder):
    """Fails every interim (a provider hiccup); finals succeed."""

    async def recognize(self, pcm: np.ndarray) -> Recognition:
        if self._seg is not None:
            raise ProviderError("interim failed", retryable=True)
        return await super().recognize(pcm)


def test_failed_interims_are_skipped_not_fatal() -> None:
    out = transcribe_stream(FlakyInterims(), vad_stream(ramp(4.0), [(0.5, 3.5)]))
    assert [(t.final, t.text) for t in out] == [(True, "x1")]


def test_nan_frames_are_rejected() -> None:
    bad = np.zeros(FRAME, np.float32)
    bad[7] = np.nan
    frames: list[Frame] = [SpeechStarted(pts=0), AudioFrame.from_pcm(bad, 16000)]
    with pytest.raises(NodeError) as caught:
        transcribe_stream(Recorder(), frames)
    assert isinstance(caught.value.__cause__, FrameError) and "NaN" in str(caught.value)
    inf = np.full(FRAME, np.inf, np.float32)
    with pytest.raises(NodeError, match="NaN or infinite"):
        transcribe_stream(Recorder(), [AudioFrame.from_pcm(inf, 16000)])


def test_short_window_repetitions_and_the_windows_tried() -> None:
    # a short window makes Whisper say a short utterance twice: that is a loop, tried again
    assert repeats("Yes! Yes!") and repeats("go, go, go") and repeats("up down up down")
    assert not repeats("Yes.") and not repeats("no, not now") and not repeats("")
    assert windows(WhisperOptions()) == [6.0, 10.0]
    assert windows(WhisperOptions(window_s=10)) == [10.0]
    assert windows(WhisperOptions(retry_window_s=0)) == [6.0]
    assert windows(WhisperOptions(window_s=30)) == []


def test_timestamped_segments_past_the_audio_are_dropped() -> None:
    ts = EOT_LIMIT + 100  # a made-up timestamp_begin: token ts + k is <|k * 0.02|>

    def at(seconds: float) -> int:
        return ts + round(seconds / 0.02)

    # "down" at 0-2 s (coarse on a 1 s clip: kept, it is the first), said again at 2-4 s: dropped
    assert within_audio([at(0), 1, 2, at(2.0), at(2.0), 1, 2, at(4.0)], 1.0, ts) == [1, 2]
    # a second segment inside the audio is kept; one that starts at the audio's end is not
    assert within_audio([at(0), 1, at(1.5), at(1.5), 2, at(2.9), at(2.9), 3], 3.0, ts) == [1, 2]
    # a segment that runs far past the end is the utterance again; a little past is coarse timing
    assert within_audio([at(0), 1, at(4.0), at(4.0), 1, at(7.0)], 4.6, ts) == [1]
    assert within_audio([at(0), 1, at(12.2), at(12.2), 2, at(14.5)], 13.8, ts) == [1, 2]
    # no timestamps at all (or an unfinished first segment): the text is kept
    assert within_audio([1, 2, 3], 1.0, ts) == [1, 2, 3]
    assert within_audio([at(0), 1, 2], 1.0, ts) == [1, 2]


def test_bad_options() -> None:
    with pytest.raises(ConfigError):
        Recorder(SegmentedSTTOptions(max_segment_ms=10))
    with pytest.raises(ConfigError):
        WhisperSTT(WhisperOptions(window_s=60))
    bads = (
        {"no_speech_threshold": 1.5},
        {"logprob_threshold": 0.5},
        {"short_output_words": -1},
        {"retry_window_s": 40},
    )
    for bad in bads:
        with pytest.raises(ConfigError):
            WhisperSTT(WhisperOptions(**bad))


@pytest.mark.parametrize("make", [WhisperSTT, MoonshineSTT])
def test_missing_model_names_the_download_command(tmp_path: Path, make: Callable[..., SegmentedSTT]) -> None:
    stt = make(hub=ModelHub(ModelCache(tmp_path)))
    with pytest.raises(ModelMissing) as caught:
        asyncio.run(stt.setup())
    assert "graphflow models download" in str(caught.value)


# ------------------------------------------------------------------ the measurement command
def report() -> None:
    """Print WER and ms per utterance (best of 3, after a warm-up) of each local provider."""
    hub = ModelHub(ModelCache())
    options: list[tuple[str, SegmentedSTT]] = [
        ("whisper window 10 s (default)", WhisperSTT(hub=hub)),
        ("whisper window 30 s (stock)", WhisperSTT(WhisperOptions(window_s=30), hub=hub)),
        ("moonshine base", MoonshineSTT(hub=hub)),
    ]
    for label, stt in options:
        recognize = _provider_recognize(stt)
        recognize(np.zeros(16000, np.float32))
        rows = list(corpus_wer(recognize, repeat=3))
        print(f"\n## {label}")
        for name, text, errors, words, ms in rows:
            print(f"| {name} | {ms:.0f} | {errors}/{words} | {text} |")
        errors, words = sum(r[2] for r in rows), sum(r[3] for r in rows)
        times = [r[4] for r in rows]
        print(
            f"WER {errors}/{words} = {errors / words:.3f}; "
            f"mean {np.mean(times):.0f} ms, max {max(times):.0f} ms"
        )


if __name__ == "__main__":
    report()
