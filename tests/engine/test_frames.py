"""Frames: immutable, timestamped on the one time base, audio zero-copy with a format."""

from __future__ import annotations

import asyncio

import msgspec
import numpy as np
import pytest

from graphflow import (
    AudioFormat,
    AudioFrame,
    EndOfStream,
    FrameError,
    Graph,
    Input,
    Node,
    Output,
    SampleFormat,
    TextFrame,
)
from graphflow.frames import UNSET_GENERATION
from graphflow.timebase import MS, SECOND, samples_to_ns
from nodes.memory import FrameSink, FrameSource
from nodes.passthrough import Passthrough

from .helpers import run_plan


def test_frames_are_immutable() -> None:
    frame = TextFrame(text="hi", pts=5, generation=0)
    with pytest.raises(AttributeError):
        frame.text = "other"  # type: ignore[misc]
    assert msgspec.structs.replace(frame, generation=2).generation == 2
    assert frame.generation == 0


def test_audio_frame_is_zero_copy_and_knows_its_format() -> None:
    pcm = np.arange(320, dtype=np.int16)
    frame = AudioFrame.from_pcm(pcm, 16000, pts=20 * MS)
    assert np.shares_memory(frame.samples, pcm)
    assert frame.samples.shape == (320, 1)
    assert frame.duration == 20 * MS
    assert frame.format == AudioFormat(16000, 1, SampleFormat.S16)
    stereo = AudioFrame.from_pcm(np.zeros((441, 2), np.float32), 44100)
    assert (stereo.channels, stereo.sample_format) == (2, SampleFormat.F32)


def test_audio_frame_rejects_unsupported_samples() -> None:
    with pytest.raises(FrameError, match="unsupported sample dtype"):
        AudioFrame.from_pcm(np.zeros(10, np.int32), 16000)
    with pytest.raises(FrameError, match="1-D or 2-D"):
        AudioFrame.from_pcm(np.zeros((2, 2, 2), np.int16), 16000)


def test_timestamps_from_sample_counts_are_exact() -> None:
    # 10 ms frames at 44.1 kHz: 441 samples each; after one hour no drift.
    frames = 360_000
    assert samples_to_ns(441 * frames, 44100) == 3600 * SECOND


def test_control_frames_survive_and_data_frames_do_not() -> None:
    assert EndOfStream().survive and EndOfStream.CONTROL
    assert not TextFrame(text="a").survive and not TextFrame.CONTROL


def test_format_mismatch_lists_fields() -> None:
    produced = AudioFormat(48000, 2, SampleFormat.S16)
    required = AudioFormat(16000, 1, None)
    assert produced.mismatches(required) == ["rate 48000 != 16000", "channels 2 != 1"]
    assert AudioFormat(16000, 1, SampleFormat.S16).mismatches(required) == []


class Stamping(Node):
    """On its frame: waits 5 ms, sends an unstamped frame, cancels, sends two more."""

    inp = Input(TextFrame)
    out = Output(TextFrame)
    side = Output(TextFrame)

    async def on_frame(self, frame: TextFrame) -> None:
        await asyncio.sleep(0.005)
        await self.out.send(TextFrame(text="before"))
        await self.cancel("next turn")
        await self.out.send(TextFrame(text="after"))
        await self.out.send(TextFrame(text="carried", generation=frame.generation, created=1))


def test_the_output_port_stamps_what_a_frame_leaves_unset() -> None:
    assert TextFrame(text="a").generation == UNSET_GENERATION and TextFrame(text="a").created == 0
    node, target, sink = Stamping(name="node"), Passthrough(name="target"), FrameSink(name="sink")
    g = Graph().chain(FrameSource([TextFrame(text="go")], name="src"), node, sink)
    g.add(target).connect(node.side, target.inp).cancels(node, target)
    run_plan(g.compile())
    got = [(f.text, f.created, f.generation) for f in sink.frames if isinstance(f, TextFrame)]
    # the run's generation at the time of sending; a generation or created set is kept
    assert got == [("before", 5 * MS, 0), ("after", 5 * MS, 1), ("carried", 1, 0)]
