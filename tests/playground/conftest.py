"""What the playground's browser tests run against: ``graphflow playground`` itself, and a WAV to say.

The command starts its own development livekit-server (``LIVEKIT_URL`` is removed from
its environment), the worker and the page's server, all on 127.0.0.1. The server binary,
the models, the built page and Chromium are prerequisites that ``make test`` provides;
each one missing skips these tests with a message saying how to get it, and fails them
under CI (``CI=true``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import aiohttp
import numpy as np
import pytest
import soxr

from graphflow.livekit.server import ServerBuildError, ensure_binary
from graphflow.playground.web import dist_dir
from graphflow.worker.settings import KEY_ENV, SECRET_ENV, URL_ENV
from tests.fixtures import ROOT, model_cache
from tests.waiting import within

BROWSER_RATE = 48000
"""The rate of the fake microphone's file (Chromium captures at 48 kHz)."""


def _required(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (required in CI)", pytrace=False)
    pytest.skip(message)


def prerequisites() -> None:
    """Skip (fail under CI) unless the server binary, the models and the built page are there."""
    try:
        ensure_binary(quiet=True)
    except ServerBuildError as exc:
        _required(f"the playground tests need livekit-server ({exc}); run `make livekit-server`")
    model_cache()
    if not (dist_dir() / "index.html").is_file():
        _required(f"the playground page is not built ({dist_dir()}); run `make web`")


def speech_file(path: Path, parts: list[tuple[Path | None, float]]) -> Path:
    """A 48 kHz mono WAV of ``parts``: each a fixture (or ``None``) followed by seconds of silence."""
    chunks: list[np.ndarray] = []
    for wav, pause_s in parts:
        if wav is not None:
            with wave.open(str(wav)) as f:
                raw = np.frombuffer(f.readframes(f.getnframes()), np.int16).reshape(-1, f.getnchannels())
                mono = raw.astype(np.float32).mean(axis=1)
                chunks.append(soxr.resample(mono, f.getframerate(), BROWSER_RATE))
        chunks.append(np.zeros(int(pause_s * BROWSER_RATE), np.float32))
    pcm = np.clip(np.concatenate(chunks), -32768, 32767).astype(np.int16)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(BROWSER_RATE)
        f.writeframes(pcm.tobytes())
    return path


def log_file(path: Path) -> BinaryIO:
    """``path`` opened for a child process's output."""
    return open(path, "wb")


@dataclass
class Running:
    """A running ``graphflow playground``: the page's address and its process."""

    url: str
    process: asyncio.subprocess.Process
    log: Path


@contextlib.asynccontextmanager
async def playground(tmp_path: Path, *changes: str) -> AsyncIterator[Running]:
    """``graphflow playground graphs/room_agent.py --set CHANGE…`` for the block, once its worker is up."""
    prerequisites()
    env = {k: v for k, v in os.environ.items() if k not in (URL_ENV, KEY_ENV, SECRET_ENV)}
    log = tmp_path / "playground.log"
    agent = str(ROOT / "graphs" / "room_agent.py")
    command = [sys.executable, "-m", "graphflow.cli.main", "playground", agent, "--port", "0"]
    for change in changes:
        command += ["--set", change]
    with log_file(log) as out:
        process = await asyncio.create_subprocess_exec(
            *command, stdout=subprocess.PIPE, stderr=out, env=env, cwd=tmp_path
        )
    assert process.stdout is not None
    try:
        url = ""
        async with within(60, "graphflow playground to print the page's address"):
            while not url:
                line = (await process.stdout.readline()).decode()
                if not line:
                    raise RuntimeError(f"graphflow playground exited; see {log}:\n{log.read_text()[-3000:]}")
                found = re.search(r"open (http://127\.0\.0\.1:\d+/)", line)
                url = found.group(1) if found else ""
        async with aiohttp.ClientSession() as http, within(120, "the worker to be up (models loaded)"):
            while True:
                async with http.get(url + "api/status") as answer:
                    if (await answer.json())["state"] == "up":
                        break
                await asyncio.sleep(0.5)
        drain = asyncio.ensure_future(process.stdout.read())  # nothing else blocks on a full pipe
        yield Running(url, process, log)
        drain.cancel()
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
