"""Session recordings: audio, transcript, events, trace and a report, written to one folder.

``record_session(session, RecordOptions(folder="rec"))`` before the run, ``finish()`` after
it; ``graphflow run TARGET --record DIR`` does both. ``read_events`` reads a recording's
events back (for a replay). See docs/recording.md.
"""

from graphflow.recording.events import read_events, write_transcript
from graphflow.recording.recorder import FILES, RecordOptions, SessionRecorder, record_session
from graphflow.recording.report import build_report

__all__ = [
    "FILES",
    "RecordOptions",
    "SessionRecorder",
    "build_report",
    "read_events",
    "record_session",
    "write_transcript",
]
