"""Typed, immutable, timestamped frames (msgspec Structs), grouped by what they carry."""

from graphflow.frames.audio import ANY_AUDIO, AudioFormat, AudioFrame, SampleFormat
from graphflow.frames.base import ControlFrame, EndOfStream, Flush, Frame, TextFrame

__all__ = [
    "ANY_AUDIO",
    "AudioFormat",
    "AudioFrame",
    "ControlFrame",
    "EndOfStream",
    "Flush",
    "Frame",
    "SampleFormat",
    "TextFrame",
]
