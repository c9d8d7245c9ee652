"""Recording a session into a folder: its audio, transcript, events, trace, and a report at the end.

:func:`record_session` attaches a :class:`SessionRecorder` from outside (it subscribes to
the session's events; nothing inside the session changes); :meth:`SessionRecorder.finish`,
once the run is over, writes the folder:

| file | what it holds |
| --- | --- |
| ``audio.wav`` | the conversation as played, 16 kHz, on the input's timeline: user left, agent right |
| ``transcript.jsonl`` | one line per utterance: ``role``, ``text``, ``start``, ``end`` (s), ``interrupted`` |
| ``events.jsonl`` | every session event with its type, engine clock ``at`` and media time (ns) |
| ``trace.json`` | the spans per turn (``graphflow.telemetry``), on the engine clock |
| ``report.json`` | layout, clock, options (no secrets), what the session came to (:mod:`.report`) |

The audio is the file sink's (``FileSink.write``, what ``graphflow run --output`` writes);
a session whose sink keeps no audio (a room) is recorded without ``audio.wav``.
"""

from __future__ import annotations

import json
import wave
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from graphflow.errors import ConfigError
from graphflow.recording.events import write_events, write_transcript
from graphflow.recording.options import recorded_options
from graphflow.recording.report import REPORT_FORMAT, build_report
from graphflow.telemetry.attach import SessionTrace, spans_of
from graphflow.telemetry.options import TraceOptions
from graphflow.telemetry.spans import SpanList
from graphflow.timebase import to_seconds
from nodes.io.file_sink import FileSink

if TYPE_CHECKING:
    from graphflow.agent.session import AgentSession

FILES = {
    "audio": "audio.wav",
    "transcript": "transcript.jsonl",
    "events": "events.jsonl",
    "trace": "trace.json",
    "report": "report.json",
}
"""The files of a recording, by what they hold."""


class RecordOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Where a session is recorded (``""``: it is not), and whether its audio is (``False``: text only)."""

    folder: str = ""
    audio: bool = True


class SessionRecorder:
    """Follows one session and writes its recording when :meth:`finish` is called."""

    def __init__(self, session: AgentSession, options: RecordOptions) -> None:
        if not options.folder:
            raise ConfigError("a recording needs a folder", hint="RecordOptions(folder='out/rec')")
        self.session, self.options = session, options
        self.folder = Path(options.folder)
        self.spans = SpanList()
        self.trace: SessionTrace = spans_of(session, self.spans, TraceOptions(content=True))
        self.finished = False

    def finish(self) -> Path:
        """Write the recording (once; the session's run is over) and return its folder."""
        if self.finished:
            return self.folder
        self.finished = True
        self.trace.close()
        session, folder = self.session, self.folder
        folder.mkdir(parents=True, exist_ok=True)
        audio = self._audio(folder / FILES["audio"]) if self.options.audio else None
        write_transcript(folder / FILES["transcript"], session.transcript)
        write_events(folder / FILES["events"], session.events)
        (folder / FILES["trace"]).write_text(json.dumps({"clock": "engine", "spans": self.spans.to_json()}))
        report = {
            "format": REPORT_FORMAT,
            "files": {k: v for k, v in FILES.items() if k != "audio" or audio is not None},
            "clock": {"media_zero_ns": session.playout.timeline.base, "ended_ns": session.now()},
            "audio": audio,
            "duration_s": audio["seconds"] if audio else self._last_media(),
            "options": recorded_options(session.options),
            **build_report(session.events),
        }
        (folder / FILES["report"]).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        return folder

    def _audio(self, path: Path) -> dict[str, Any] | None:
        """Write the sink's conversation WAV; its layout, or None when the sink keeps no audio."""
        sink = next((n for n in self.session.graph.nodes() if isinstance(n, FileSink)), None)
        if sink is None:
            return None
        sink.write(path)
        with wave.open(str(path)) as w:
            channels, rate, frames = w.getnchannels(), w.getframerate(), w.getnframes()
        return {
            "file": FILES["audio"],
            "rate": rate,
            "channels": ["user", "agent"] if channels == 2 else ["agent"],
            "seconds": frames / rate,
        }

    def _last_media(self) -> float:
        return max((to_seconds(e.media) for e in self.session.events), default=0.0)


def record_session(session: AgentSession, options: RecordOptions) -> SessionRecorder:
    """Record ``session`` into ``options.folder``; call ``finish()`` on the result after its run."""
    return SessionRecorder(session, options)
