"""``graphflow bench`` as a stranger runs it: their own files by any path, from any folder, and mistakes."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from graphflow.cli.main import main

from ..fixtures import FIXTURES, model_cache, read_wav, write_wav

YES = "cmd_yes.wav"
TEN = "cmd_ten_of_clubs.wav"


def flac_44k_stereo(source: Path, out: Path) -> Path:
    """Re-encode a 16 kHz mono fixture as 44.1 kHz stereo FLAC (a format and rate of its own)."""
    import soxr

    pcm = read_wav(source.name).astype(np.float32) / 32768
    wide = soxr.resample(pcm, 16000, 44100)
    stereo = np.stack([wide, wide * 0.8]).astype(np.float32)
    with av.open(str(out), "w", format="flac") as container:
        stream = container.add_stream("flac", rate=44100, layout="stereo")
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray((stereo * 32767).astype(np.int16).T.reshape(1, -1)),
            format="s16",
            layout="stereo",
        )
        frame.rate = 44100
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out


def bench(*args: str) -> int:
    return main(["bench", "--virtual", "--runs", "1", *args])


def test_any_paths_from_another_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model_cache()
    mine = tmp_path / "mine"
    mine.mkdir()
    wav = write_wav(mine / "question.wav", read_wav(YES))
    (mine / "question.txt").write_text("yes\n")
    flac = flac_44k_stereo(FIXTURES / TEN, tmp_path / "elsewhere.flac")
    out = tmp_path / "results" / "bench.json"
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")  # neither the repository nor the recordings' folder
    status = bench(str(wav), str(flac), "--json", str(out))
    assert status == 0
    doc = json.loads(out.read_text())
    runs = {r["recording"]: r for r in doc["runs"]}
    assert set(runs) == {"question.wav", "elsewhere.flac"}
    assert runs["question.wav"]["reference"] == "yes"  # the sidecar text
    assert runs["elsewhere.flac"]["reference"] is None  # no sidecar, not in any manifest
    assert doc["summary"]["voice_to_voice_ms"]["count"] >= 2  # each answered, then barged in on
    timelines = sorted((out.parent / "bench-timelines").iterdir())
    assert [p.name for p in timelines] == ["elsewhere.flac.png", "question.wav.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in timelines)


def test_a_manifest_names_the_recordings_and_their_texts(tmp_path: Path) -> None:
    model_cache()
    clips = tmp_path / "clips"
    clips.mkdir()
    write_wav(clips / "a.wav", read_wav(YES))
    (tmp_path / "set.tsv").write_text("file\ttranscript\nclips/a.wav\tyes\n")
    out = tmp_path / "b.json"
    assert bench("--no-barge-in", "--manifest", str(tmp_path / "set.tsv"), "--json", str(out)) == 0
    doc = json.loads(out.read_text())
    assert [(r["recording"], r["reference"]) for r in doc["runs"]] == [("a.wav", "yes")]


def one_line_error(capsys: pytest.CaptureFixture[str], status: int, *names: str) -> str:
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for name in names:
        assert name in err, err
    return err


def test_a_missing_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "nope.wav")
    err = one_line_error(capsys, bench(missing), missing)
    assert "no such audio file" in err


def test_unreadable_audio_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_text("these are my notes, not audio")
    one_line_error(capsys, bench(str(bad)), str(bad))


@pytest.mark.parametrize("kind", ["zero bytes", "a blip"])
def test_an_empty_clip_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    path = tmp_path / "empty.wav"
    if kind == "zero bytes":
        path.write_bytes(b"")
    else:
        write_wav(path, np.zeros(160, np.int16))  # 10 ms
    one_line_error(capsys, bench(str(path)), str(path))


def test_a_manifest_row_that_names_no_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "set.tsv"
    manifest.write_text("file\ttranscript\nmissing.wav\thello\n")
    err = one_line_error(capsys, bench("--manifest", str(manifest)), str(manifest), "missing.wav")
    assert "line 2" in err
    manifest.write_text("path\ttext\nx.wav\thello\n")
    one_line_error(capsys, bench("--manifest", str(manifest)), "'file' and 'transcript'")


def test_the_barge_in_clip_is_an_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "nope.wav")
    one_line_error(capsys, bench(str(FIXTURES / YES), "--barge-in-clip", missing), missing)
    # a fixtures dir without the old built-in barge-in clip is fine: the default ships with graphflow
    write_wav(tmp_path / "yes.wav", read_wav(YES))
    model_cache()
    assert bench("yes.wav", "--fixtures-dir", str(tmp_path), "--json", str(tmp_path / "o.json")) == 0


def test_models_mode_reports_the_same_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "gone.flac")
    one_line_error(capsys, main(["bench", "--mode", "models", missing]), missing)
    one_line_error(capsys, bench("--fixtures-dir", str(tmp_path / "nowhere")), "nowhere")
    one_line_error(capsys, bench(str(FIXTURES / YES), "--sessions", "1,x"), "--sessions")


def test_run_and_render_report_bad_input_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    graph = str(Path(__file__).resolve().parents[2] / "graphs" / "voice_agent.py")
    missing = str(tmp_path / "in.wav")
    one_line_error(capsys, main(["run", graph, "--input", missing, "--fast"]), missing)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00")
    one_line_error(capsys, main(["run", graph, "--input", str(bad), "--fast"]), str(bad))
    one_line_error(capsys, main(["render", str(tmp_path / "graph.py")]), "graph.py")
    (tmp_path / "empty.py").write_text("x = 1\n")
    one_line_error(capsys, main(["render", str(tmp_path / "empty.py")]), "empty.py")
