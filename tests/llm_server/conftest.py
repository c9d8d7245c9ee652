"""A real llama.cpp server on loopback for the tests marked ``llm_server`` (part of ``make test``).

``scripts/setup-llama-server`` (``make llama-server``, which ``make test`` runs first)
builds the server once into ``<cache>/llama-server`` — a virtualenv of its own in the
cache that holds the local models — and assembles a tiny chat model there. The server
formats prompts in its fallback format (this GGUF has no chat template): it streams
text and leaves ``tools`` and tool messages out of the prompt, except that a
``tool_choice`` naming a tool makes the model call that tool, streamed, with arguments a
grammar keeps to the tool's JSON schema. Under CI (``CI=true``) a server that is not
set up fails the run; elsewhere the tests are skipped with the reason (a machine that
cannot build it: no compiler or cmake, a CPU without AVX2/FMA) and what to run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from graphflow.models.cache import default_cache_dir
from graphflow.processes import stop_process

VENV = Path(os.environ.get("LLAMA_VENV") or default_cache_dir() / "llama-server")
"""The server's virtualenv: ``<cache>/llama-server`` (``GRAPHFLOW_CACHE`` moves the cache,
``LLAMA_VENV`` the virtualenv alone, for the setup script and the tests alike)."""

MODEL = "gemma-3-270m"
"""The model name the tests send (the server has one model and answers any name with it)."""

SEED = 0
"""The server's random seed (the tests also sample at temperature 0)."""

HOST = "127.0.0.1"
"""The server listens on loopback only."""

START_TIMEOUT_S = 60.0
"""How long the server may take to load the model and answer ``/v1/models`` (the first
test's timeout covers it: every test here allows at least 30 s more)."""

STOP_TIMEOUT_S = 10.0
"""How long the server may take to exit after SIGTERM before it is killed."""

HERE = Path(__file__).resolve().parent
"""This folder: every test in it is marked ``llm_server``."""


@dataclass(frozen=True)
class LlamaServer:
    """A running server: its OpenAI-compatible ``base_url`` (ending in ``/v1``), port, model file and log."""

    base_url: str
    port: int
    model: Path
    log: Path


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test in this folder ``llm_server`` (before ``-m`` selects or deselects)."""
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.llm_server)


def free_port() -> int:
    """A TCP port nobody listens on right now on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def not_set_up(why: str) -> None:
    """Fail under CI (``CI=true``), skip elsewhere: the server is not there, for ``why``."""
    unavailable = VENV / "unavailable"
    if unavailable.is_file():
        why = f"it cannot be built on this machine: {unavailable.read_text().strip()}"
    message = f"the llama.cpp server is not set up in {VENV}: {why}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (required under CI)", pytrace=False)
    pytest.skip(f"{message}; `make llama-server` builds it (scripts/setup-llama-server)")


def installed_model() -> Path:
    """The model file the setup script assembled (a missing setup fails under CI, skips elsewhere)."""
    python, stamp, model_path = VENV / "bin" / "python", VENV / ".installed", VENV / "model-path"
    if not (python.exists() and stamp.exists() and model_path.exists()):
        not_set_up("the virtualenv is missing or incomplete")
    model = Path(model_path.read_text().strip())
    if not model.is_file():
        not_set_up(f"the model file {model} named in {model_path} is gone")
    return model


def log_tail(log: Path, lines: int = 30) -> str:
    """The last lines of the server's log, for failure messages."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def wait_until_ready(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    """Poll ``/v1/models`` until it answers 200, the process exits, or ``START_TIMEOUT_S`` passes."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"the llama.cpp server exited with code {process.returncode} before it was ready; "
                f"its log ({log}) ends with:\n{log_tail(log)}",
                pytrace=False,
            )
        try:
            if httpx.get(f"{base_url}/models", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    pytest.fail(
        f"the llama.cpp server did not answer {base_url}/models within {START_TIMEOUT_S:.0f} s; "
        f"its log ({log}) ends with:\n{log_tail(log)}",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """One llama.cpp server for the whole test session, on a free loopback port."""
    model = installed_model()
    port = free_port()
    base_url = f"http://{HOST}:{port}/v1"
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        str(VENV / "bin" / "python"),
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--host",
        HOST,
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--seed",
        str(SEED),
    ]
    env = dict(os.environ, PYTHONUNBUFFERED="1")  # the log is written as it happens
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env
        )
    try:
        wait_until_ready(process, base_url, log)
        yield LlamaServer(base_url=base_url, port=port, model=model, log=log)
    finally:
        stop_process(process, STOP_TIMEOUT_S)
