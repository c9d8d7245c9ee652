"""Replaying a recording: its user audio through the current voice graph, its turns diffed.

:func:`load_recording` reads a recording folder (``report.json``, ``events.jsonl``, and
channel 0 of ``audio.wav``: the user alone); :func:`replay` plays that audio to a
freshly built session on a :class:`~graphflow.runtime.clock.VirtualClock` and matches
the new run's turn decisions against the recorded ones (:mod:`graphflow.recording.turn_diff`).
``graphflow replay RECORDING`` is the command (docs/recording.md).
"""

from __future__ import annotations

import json
import tempfile
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from graphflow.agent.options import SessionOptions, with_overrides
from graphflow.agent.session import AgentSession
from graphflow.errors import ConfigError
from graphflow.recording.events import read_events
from graphflow.recording.options import options_of
from graphflow.recording.recorder import FILES
from graphflow.recording.turn_diff import DiffOptions, Turn, TurnDiff, diff_turns, matches, turns_of
from graphflow.runtime.clock import VirtualClock

SessionFactory = Callable[[SessionOptions], AgentSession]
"""Builds the session a replay runs (``build_session`` of a graph file; default ``AgentSession``)."""

TAIL_SILENCE_MS = 3000
"""Silence played after the recorded audio, so a decision still pending at its end is made."""


@dataclass(frozen=True)
class Recording:
    """What a replay needs of a recording folder."""

    folder: Path
    user: np.ndarray
    """Channel 0 of ``audio.wav``: the user's audio alone, int16."""
    rate: int
    turns: list[Turn]
    report: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class ReplayResult:
    """The recorded turns, the replayed ones, and the diff between them."""

    recording: Recording
    turns: list[Turn]
    diff: list[TurnDiff]
    options: DiffOptions

    @property
    def matches(self) -> bool:
        """True when every recorded turn was replayed the same, and no other turn came."""
        return matches(self.diff)


def not_a_recording(folder: Path, why: str) -> ConfigError:
    """The error for a folder a replay cannot use (one line, with what to give instead)."""
    return ConfigError(
        f"{folder} is not a recording that can be replayed: {why}",
        hint="give a folder written by `graphflow run ... --record DIR`",
        code="replay.not_a_recording",
    )


def load_recording(folder: Path) -> Recording:
    """Read ``folder``'s report, turn decisions and user audio (a clear error for anything else)."""
    if not folder.is_dir():
        raise not_a_recording(folder, "no such folder")
    report_path, events_path = folder / FILES["report"], folder / FILES["events"]
    for path in (report_path, events_path):
        if not path.is_file():
            raise not_a_recording(folder, f"it has no {path.name}")
    try:
        report = json.loads(report_path.read_text())
        events = read_events(events_path)
    except (ValueError, TypeError, msgspec.ValidationError) as exc:  # bad JSON, a line that is no event
        raise not_a_recording(folder, f"its files cannot be read ({exc})") from None
    if not isinstance(report, dict) or not isinstance(report.get("clock"), dict):
        raise not_a_recording(folder, f"{report_path.name} is not a recording's report")
    audio = report.get("audio")
    if not audio or not (folder / FILES["audio"]).is_file():
        raise not_a_recording(folder, "it was recorded without audio (a room session keeps none)")
    if not isinstance(audio, dict) or "user" not in audio.get("channels", []):
        raise not_a_recording(folder, "its audio has no user channel")
    user, rate = _read_channel(folder / FILES["audio"], audio["channels"].index("user"))
    zero = int(report["clock"].get("media_zero_ns") or 0)
    return Recording(folder, user, rate, turns_of(events, zero), report)


def _read_channel(path: Path, channel: int) -> tuple[np.ndarray, int]:
    try:
        with wave.open(str(path)) as w:
            pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, w.getnchannels())
            return pcm[:, channel].copy(), w.getframerate()
    except (wave.Error, EOFError, ValueError) as exc:
        raise not_a_recording(path.parent, f"{path.name} cannot be read ({exc})") from None


def _write_mono(path: Path, pcm: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.astype("<i2").tobytes())


def replay_options(
    audio: Path, sets: Sequence[str] = (), recorded: SessionOptions | None = None
) -> SessionOptions:
    """The options a replay runs with: the ``recorded`` session's (default: the defaults), ``audio``
    in, nothing written, then the ``--set`` changes."""
    base = [f"files.input={audio}", "files.output=", f"files.tail_silence_ms={TAIL_SILENCE_MS}"]
    return with_overrides(recorded or SessionOptions(), [*base, *sets])


def run_session(session: AgentSession) -> list[Turn]:
    """Run ``session`` to its end on a virtual clock; its spoken turn decisions."""
    clock = VirtualClock()
    clock.run(session.run(clock))
    return turns_of(session.events, session.playout.timeline.base or 0)


def replay(
    recording: Recording | Path,
    *,
    sets: Sequence[str] = (),
    build: SessionFactory | None = None,
    options: DiffOptions | None = None,
) -> ReplayResult:
    """Play ``recording``'s user audio through a session ``build`` makes and diff the turns.

    The session runs with the options the recording keeps (its report's ``options``; the
    defaults for a recording made before they were kept), changed by ``sets``, ``--set``
    pairs (``turn.fused.min_delay_ms=400``);
    ``build`` makes the session from the options (default: the voice agent, ``AgentSession``).
    """
    rec = recording if isinstance(recording, Recording) else load_recording(recording)
    factory = build or AgentSession
    diff_options = options or DiffOptions()
    with tempfile.TemporaryDirectory(prefix="graphflow-replay-") as tmp:
        audio = Path(tmp) / "user.wav"
        _write_mono(audio, rec.user, rec.rate)
        session = factory(replay_options(audio, sets, options_of(rec.report)))
        turns = run_session(session)
    return ReplayResult(rec, turns, diff_turns(rec.turns, turns, diff_options), diff_options)
