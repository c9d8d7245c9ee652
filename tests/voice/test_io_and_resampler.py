"""File source (any format, bad files) and the streaming resampler (continuity, exact pts)."""

from __future__ import annotations

import itertools
from pathlib import Path

import av
import numpy as np
import pytest
import soxr

from graphflow import AudioFormat, AudioFrame, CompileError, FrameError, Graph, NodeError, SampleFormat
from graphflow.conversation.playout import Timeline
from graphflow.timebase import MS, SECOND, samples_to_ns
from nodes.audio.resampler import Resampler, ResamplerOptions
from nodes.io.file_source import AudioFileError, FileSource, FileSourceOptions, decode_file
from nodes.memory import FrameSink, FrameSource
from nodes.vad.silero import SileroVAD

from ..engine.helpers import run_plan
from ..fixtures import FIXTURES, read_wav


def encode(samples: np.ndarray, rate: int, path: Path, codec: str, layout: str = "mono") -> Path:
    """Write int16 ``samples`` (n, channels) to ``path`` with FFmpeg's ``codec``."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        assert isinstance(stream, av.audio.stream.AudioStream)
        frame = av.AudioFrame.from_ndarray(samples.T.reshape(1, -1).copy(), format="s16", layout=layout)
        frame.rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def collect(path: str, frame_ms: int = 20, paced: bool = False) -> list[AudioFrame]:
    sink = FrameSink()
    run_plan(
        Graph().chain(FileSource(FileSourceOptions(path, frame_ms=frame_ms, paced=paced)), sink).compile()
    )
    return [f for f in sink.frames if isinstance(f, AudioFrame)]


def test_wav_fixture_decodes_to_exact_frames() -> None:
    frames = collect(str(FIXTURES / "cmd_yes.wav"))
    pcm = read_wav("cmd_yes.wav")
    assert len(frames) == 50 and all(f.samples_per_channel == 320 and f.rate == 16000 for f in frames)
    assert np.array_equal(np.concatenate([f.samples[:, 0] for f in frames]), pcm)
    assert [f.pts for f in frames] == [i * 20 * MS for i in range(50)]


@pytest.mark.parametrize(
    ("codec", "suffix", "layout"),
    [("flac", ".flac", "stereo"), ("libmp3lame", ".mp3", "mono"), ("aac", ".m4a", "mono")],
)
def test_other_formats_decode(tmp_path: Path, codec: str, suffix: str, layout: str) -> None:
    pcm = read_wav("cmd_down.wav").reshape(-1, 1)
    if layout == "stereo":
        pcm = np.repeat(pcm, 2, axis=1)
    path = encode(pcm, 16000, tmp_path / f"x{suffix}", codec, layout)
    samples, rate = decode_file(path)
    assert rate == 16000 and samples.shape[1] == pcm.shape[1]
    assert abs(len(samples) - len(pcm)) < 2048


def test_paced_source_delivers_frames_at_capture_time() -> None:
    sink = FrameSink()
    timeline = Timeline()
    source = FileSource(FileSourceOptions(str(FIXTURES / "cmd_yes.wav"), frame_ms=10), timeline=timeline)
    run_plan(Graph().chain(source, sink).compile())
    assert timeline.base is not None
    arrivals = [t - timeline.base for t in sink.arrivals]
    assert arrivals[:3] == [10 * MS, 20 * MS, 30 * MS] and len(arrivals) == 100


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt garbage garbage", "cannot decode"),
        (None, "no such audio file"),
    ],
)
def test_bad_files_fail_clearly_at_setup(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "bad.wav"
    if content is not None:
        path.write_bytes(content)
    g = Graph().chain(FileSource(FileSourceOptions(str(path)), name="src"), FrameSink())
    with pytest.raises(NodeError) as info:
        run_plan(g.compile())
    assert info.value.phase == "setup" and info.value.node == "src"
    assert isinstance(info.value.__cause__, AudioFileError) and message in str(info.value.__cause__)


def test_a_file_of_the_wrong_rate_cannot_reach_the_vad_without_a_resampler() -> None:
    with pytest.raises(CompileError, match="requires 16000Hz/1ch/s16"):
        Graph().chain(FileSource(FileSourceOptions("x.wav")), SileroVAD()).compile()
    Graph().chain(FileSource(FileSourceOptions("x.wav")), Resampler(), SileroVAD()).compile()


def sine(rate: int, seconds: float, channels: int = 1) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    mono = (np.sin(2 * np.pi * 440 * t) * 12000).astype(np.int16)
    return np.repeat(mono.reshape(-1, 1), channels, axis=1)


def frames_of(pcm: np.ndarray, rate: int, ms: int) -> list[AudioFrame]:
    step = rate * ms // 1000
    return [
        AudioFrame.from_pcm(pcm[i : i + step], rate, pts=samples_to_ns(i, rate))
        for i in range(0, len(pcm), step)
    ]


@pytest.mark.parametrize(("src_rate", "dst_rate"), [(48000, 16000), (16000, 22050), (44100, 16000)])
def test_streaming_resampler_matches_whole_signal_resampling(src_rate: int, dst_rate: int) -> None:
    pcm = sine(src_rate, 1.0)
    sink = FrameSink()
    resampler = Resampler(ResamplerOptions(rate=dst_rate))
    run_plan(Graph().chain(FrameSource(frames_of(pcm, src_rate, 10)), resampler, sink).compile())
    out = [f for f in sink.frames if isinstance(f, AudioFrame)]
    streamed = np.concatenate([f.samples[:, 0] for f in out]).astype(np.float32) / 32768
    whole = soxr.resample(pcm[:, 0].astype(np.float32) / 32768, src_rate, dst_rate)
    assert abs(len(streamed) - len(whole)) <= 1
    n = min(len(streamed), len(whole))
    assert np.max(np.abs(streamed[:n] - whole[:n])) < 2e-3  # no clicks at frame boundaries
    # pts: contiguous and exact from the output sample count
    assert out[0].pts == 0
    for a, b in itertools.pairwise(out):
        assert b.pts == a.pts + a.duration
    assert out[-1].pts + out[-1].duration == samples_to_ns(len(streamed), dst_rate)


def test_resampler_downmixes_and_converts_format() -> None:
    pcm = sine(16000, 0.1, channels=2)
    sink = FrameSink()
    resampler = Resampler(ResamplerOptions(rate=16000, channels=1, sample_format=SampleFormat.F32))
    assert resampler.out.format == AudioFormat(16000, 1, SampleFormat.F32)
    run_plan(Graph().chain(FrameSource(frames_of(pcm, 16000, 20)), resampler, sink).compile())
    out = [f for f in sink.frames if isinstance(f, AudioFrame)]
    assert all(f.channels == 1 and f.samples.dtype == np.float32 for f in out)
    assert np.allclose(np.concatenate([f.samples[:, 0] for f in out]), pcm[:, 0] / 32768, atol=1e-4)


def test_resampler_refuses_nan_samples() -> None:
    bad = AudioFrame.from_pcm(np.array([0.0, np.nan, 0.1], np.float32), 16000)
    g = Graph().chain(FrameSource([bad]), Resampler(name="rs"), FrameSink())
    with pytest.raises(NodeError) as info:
        run_plan(g.compile())
    assert info.value.node == "rs" and isinstance(info.value.__cause__, FrameError)
    assert "NaN" in str(info.value)


def test_resampler_follows_a_rate_change_mid_stream() -> None:
    first = frames_of(sine(48000, 0.2), 48000, 20)
    second = [
        AudioFrame.from_pcm(f.samples, 8000, pts=SECOND + i * 20 * MS)
        for i, f in enumerate(frames_of(sine(8000, 0.2), 8000, 20))
    ]
    sink = FrameSink()
    run_plan(Graph().chain(FrameSource(first + second), Resampler(), sink).compile())
    out = [f for f in sink.frames if isinstance(f, AudioFrame)]
    total = sum(f.samples_per_channel for f in out)
    assert abs(total - 2 * 3200) <= 64
    assert out[-1].pts >= SECOND
