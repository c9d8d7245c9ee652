"""A damaged model file in the cache: a one-line error naming it and the repair, and the repair itself.

Everything happens on a copy of Silero VAD (2.3 MB) in a temporary cache directory; the
real cache is only read.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from graphflow import Graph, NodeError
from graphflow.cli.main import describe
from graphflow.cli.models import run_list
from graphflow.frames import AudioFrame
from graphflow.models import CATALOG, ModelCache, ModelCorrupt, ModelHub, download
from nodes.memory import FrameSink, FrameSource
from nodes.vad.silero import SileroVAD
from nodes.vad.silero_executor import SileroExecutor
from tests.engine.helpers import run_plan
from tests.fixtures import model_cache

SPEC = CATALOG["silero-vad"]
FILE = SPEC.files[0]


def copied(tmp_path: Path) -> tuple[ModelCache, Path]:
    """A cache in ``tmp_path`` holding an intact copy of Silero VAD, and the copied file."""
    original = model_cache().path(SPEC.name, FILE.target)
    cache = ModelCache(tmp_path / "cache")
    target = cache.dir(SPEC.name) / FILE.target
    target.parent.mkdir(parents=True)
    shutil.copyfile(original, target)
    return cache, target


def corrupt(path: Path) -> None:
    """Flip one byte in the middle of ``path`` (the size stays: only the checksum can tell)."""
    with path.open("r+b") as f:
        f.seek(path.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))


def test_an_intact_copy_loads(tmp_path: Path) -> None:
    cache, target = copied(tmp_path)
    assert cache.path(SPEC.name, FILE.target) == target
    assert cache.damaged(SPEC) == []
    SileroExecutor(cache)  # the real loader takes it


def test_a_corrupted_file_is_a_one_line_error_naming_it_and_the_repair(tmp_path: Path) -> None:
    cache, target = copied(tmp_path)
    corrupt(target)
    assert cache.is_complete(SPEC)  # right size: a size check alone would pass it to the loader
    with pytest.raises(ModelCorrupt) as caught:
        cache.path(SPEC.name)
    text = str(caught.value)
    repair = f"graphflow models download silero-vad --cache {cache.root}"
    assert "\n" not in text and str(target) in text and f"`{repair}`" in text
    assert caught.value.code == "model.corrupt"

    # loading it through a node: the graph fails at setup, and the CLI prints that one line
    with pytest.raises(ModelCorrupt):
        SileroExecutor.shared(ModelHub(cache))
    frame = AudioFrame.from_pcm(np.zeros(512, np.int16), 16000)
    vad = SileroVAD(name="vad", hub=ModelHub(cache))
    graph = Graph("vad").chain(FrameSource([frame], frame_type=AudioFrame), vad, FrameSink(name="sink"))
    with pytest.raises(NodeError) as failed:
        run_plan(graph.compile())
    assert failed.value.node == "vad" and isinstance(failed.value.__cause__, ModelCorrupt)
    line = describe(failed.value)
    assert "\n" not in line and str(target) in line and repair in line


def test_listing_shows_it_and_downloading_again_repairs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cache, target = copied(tmp_path)
    intact = target.read_bytes()
    corrupt(target)
    run_list(argparse.Namespace(cache=cache.root))
    assert "silero-vad       corrupt" in capsys.readouterr().out

    # the package index, offline: a wheel holding the published file
    fetched: list[str] = []

    def fetch(spec: object, tmp: Path, report: object) -> list[Path]:
        fetched.append(SPEC.name)
        wheel = tmp / "silero_vad-0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(FILE.sources[0], intact)
        return [wheel]

    monkeypatch.setattr(importlib.import_module("graphflow.models.download"), "_fetch", fetch)
    said: list[str] = []
    download(SPEC, cache, report=said.append)
    assert fetched == ["silero-vad"]
    assert any("silero_vad.onnx does not match its sha256; downloading it again" in s for s in said)
    assert target.read_bytes() == intact and cache.path(SPEC.name) == cache.dir(SPEC.name)

    # intact now: another download leaves it alone
    download(SPEC, cache, report=said.append)
    assert fetched == ["silero-vad"] and "sha256 ok" in said[-1]
