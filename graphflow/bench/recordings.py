"""The recordings a benchmark plays: any audio file by any path, with an optional reference text.

A recording is named on the command line by its path (absolute, or relative to the
working directory) or, for the fixtures that come with the repository, by its file name.
Its reference transcript, when one is known, comes from a sidecar ``NAME.txt`` beside the
file or from a manifest (a tab-separated file with ``file`` and ``transcript`` columns,
file paths relative to the manifest). Audio of any format and rate FFmpeg reads is
decoded, mixed down to mono and resampled to the pipeline's 16 kHz. Every problem is a
:class:`~graphflow.errors.ConfigError` (or an audio file error) that names the file.
"""

from __future__ import annotations

import csv
from pathlib import Path

import msgspec
import numpy as np

from graphflow.errors import ConfigError

RATE = 16_000
"""Sample rate the benchmarked pipeline listens at (Hz)."""
PACKAGE_DATA = Path(__file__).resolve().parent / "data"
"""Audio that ships inside the package (the default barge-in clip)."""
BARGE_IN_CLIP = PACKAGE_DATA / "go_forward_ten_meters.wav"
"""The default utterance that barges in on the agent ("go forward ten meters")."""
REPOSITORY_FIXTURES = Path(__file__).resolve().parents[2] / "benchmarks" / "fixtures"
"""The recorded fixtures of a source checkout (absent when graphflow is installed from a wheel)."""
BENCH_SET = "bench-set.txt"
"""The file in a fixtures folder that lists the recordings run when none is named."""


class Recording(msgspec.Struct, frozen=True):
    """One audio file to benchmark: a display name, its absolute path, its reference text."""

    name: str
    path: str
    transcript: str | None = None
    """Reference words, when known (a sidecar ``.txt`` or a manifest row); None otherwise."""


def read_manifest(path: Path) -> dict[Path, str]:
    """Absolute file path → transcript, from a TSV with ``file`` and ``transcript`` columns."""
    if not path.is_file():
        raise ConfigError(f"no such manifest: {path}", hint="a TSV file with file and transcript columns")
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path}: not a readable TSV manifest ({exc})") from exc
    if not rows or "file" not in rows[0] or "transcript" not in rows[0]:
        raise ConfigError(
            f"{path}: a manifest needs a header row with 'file' and 'transcript' columns (tab-separated)"
        )
    out: dict[Path, str] = {}
    for number, row in enumerate(rows, start=2):
        name = (row.get("file") or "").strip()
        if not name:
            raise ConfigError(f"{path}, line {number}: the row names no file")
        file = (path.parent / name).resolve()
        if not file.is_file():
            raise ConfigError(f"{path}, line {number}: names {name}, which is not a file ({file})")
        out[file] = (row.get("transcript") or "").strip()
    return out


def sidecar_text(path: Path) -> str | None:
    """The words in ``NAME.txt`` beside ``NAME.wav`` (any audio suffix), if that file exists."""
    text = path.with_suffix(".txt")
    if not text.is_file() or text == path:
        return None
    try:
        return " ".join(text.read_text(encoding="utf-8").split())
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{text}: the reference transcript is not UTF-8 text") from exc


def default_set(fixtures_dir: Path) -> list[str]:
    """The recordings listed in ``fixtures_dir/bench-set.txt`` (comments and blanks skipped)."""
    path = fixtures_dir / BENCH_SET
    if not path.is_file():
        raise ConfigError(f"no {BENCH_SET} in {fixtures_dir}", hint="name the recordings to run")
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def locate(name: str, fixtures_dir: Path | None) -> Path:
    """The file ``name`` means: a path as given, else a file of that name in ``fixtures_dir``."""
    given = Path(name).expanduser()
    if given.is_file():
        return given.resolve()
    if fixtures_dir is not None and not given.is_absolute() and (fixtures_dir / given).is_file():
        return (fixtures_dir / given).resolve()
    if given.is_dir():
        raise ConfigError(f"{name} is a folder, not an audio file", hint="name the audio files in it")
    where = f" (nor in {fixtures_dir})" if fixtures_dir is not None and not given.is_absolute() else ""
    raise ConfigError(f"no such audio file: {name}{where}", hint="check the path")


def resolve(
    names: list[str], *, fixtures_dir: Path | None = None, manifest: Path | None = None
) -> list[Recording]:
    """The recordings ``names`` mean, with their transcripts; the manifest's rows when none is named.

    With no names and no manifest, the fixtures dir's ``bench-set.txt`` is run."""
    transcripts: dict[Path, str] = {}
    if fixtures_dir is not None and (fixtures_dir / "manifest.tsv").is_file():
        transcripts.update(read_manifest(fixtures_dir / "manifest.tsv"))
    if manifest is not None:
        transcripts.update(read_manifest(manifest.expanduser().resolve()))
    if names:
        paths = [locate(name, fixtures_dir) for name in names]
    elif manifest is not None:
        paths = list(read_manifest(manifest.expanduser().resolve()))
    elif fixtures_dir is not None:
        paths = [locate(name, fixtures_dir) for name in default_set(fixtures_dir)]
    else:
        raise ConfigError("no recordings to run", hint="name audio files, or give --manifest")
    recordings = []
    taken: set[str] = set()
    for path in paths:
        text = sidecar_text(path)
        if text is None:
            text = transcripts.get(path)
        name = path.name if path.name not in taken else f"{path.parent.name}/{path.name}"
        taken.add(name)
        recordings.append(Recording(name=name, path=str(path), transcript=text))
    return recordings


def barge_in_recording(path: str | None) -> Recording:
    """The barge-in clip: the file given, or the one that ships inside the package."""
    file = locate(path, None) if path else BARGE_IN_CLIP
    return Recording(name=file.name, path=str(file), transcript=sidecar_text(file))


def load_pcm(recording: Recording) -> np.ndarray:
    """The recording's samples as 16 kHz mono int16 (decoded by FFmpeg, resampled by soxr)."""
    import soxr

    from nodes.io.file_source import AudioFileError, decode_file

    samples, rate = decode_file(Path(recording.path))
    mono = samples.astype(np.float32).mean(axis=1) / 32768.0
    if rate != RATE:
        mono = soxr.resample(mono, rate, RATE, quality="HQ")
    pcm: np.ndarray = np.clip(np.round(mono * 32768.0), -32768, 32767).astype(np.int16)
    if len(pcm) < RATE // 10:
        raise AudioFileError(
            f"{recording.path} holds {len(pcm) / RATE * 1000:.0f} ms of audio; a benchmark needs speech",
            hint="give a recording of at least a word",
        )
    return pcm


def check_readable(recordings: list[Recording]) -> None:
    """Decode every recording once, so a bad file fails before any model is loaded."""
    for recording in recordings:
        load_pcm(recording)


__all__ = [
    "BARGE_IN_CLIP",
    "Recording",
    "barge_in_recording",
    "check_readable",
    "default_set",
    "load_pcm",
    "read_manifest",
    "resolve",
    "sidecar_text",
]
