"""Typed, immutable, timestamped frames (msgspec Structs), grouped by what they carry."""

from graphflow.frames.agent import ReplyDelta, ReplyEnd, SpeechAudio, ToolCall, heard_prefix
from graphflow.frames.audio import ANY_AUDIO, AudioFormat, AudioFrame, SampleFormat
from graphflow.frames.base import UNSET_GENERATION, ControlFrame, EndOfStream, Frame, TextFrame
from graphflow.frames.room import DataPacket
from graphflow.frames.speech import (
    EndOfTurn,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    SpeechStopped,
    Transcript,
    TurnKind,
    TurnReason,
    VADEvent,
)

__all__ = [
    "ANY_AUDIO",
    "AudioFormat",
    "AudioFrame",
    "ControlFrame",
    "DataPacket",
    "EndOfStream",
    "EndOfTurn",
    "Frame",
    "ReplyDelta",
    "ReplyEnd",
    "SampleFormat",
    "SpeechAudio",
    "SpeechStarted",
    "SpeechPaused",
    "SpeechResumed",
    "SpeechStopped",
    "TextFrame",
    "ToolCall",
    "Transcript",
    "TurnKind",
    "TurnReason",
    "UNSET_GENERATION",
    "VADEvent",
    "heard_prefix",
]
