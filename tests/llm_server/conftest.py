"""A real llama.cpp server on loopback for the tests marked ``llm_server`` (``make test-llm``).

``scripts/setup-llama-server`` builds the server into ``.venv-llama`` (a virtualenv of
its own) and assembles a tiny chat model there. This tier runs only when asked for, so
a missing setup fails with a message saying what to run; it never skips.
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

ROOT = Path(__file__).resolve().parents[2]
"""The project's root folder."""

VENV = Path(os.environ.get("LLAMA_VENV", str(ROOT / ".venv-llama")))
"""The server's virtualenv (``LLAMA_VENV`` moves it, as it does for the setup script)."""

HOST = "127.0.0.1"
"""The server listens on loopback only."""

START_TIMEOUT_S = 120.0
"""How long the server may take to load the model and answer ``/v1/models``."""

STOP_TIMEOUT_S = 10.0
"""How long the server may take to exit after SIGTERM before it is killed."""

HERE = Path(__file__).resolve().parent
"""This folder: every test in it is marked ``llm_server``."""


@dataclass(frozen=True)
class LlamaServer:
    """A running server: its OpenAI-compatible ``base_url`` (ending in ``/v1``), model file and log."""

    base_url: str
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


def installed_model() -> Path:
    """The model file the setup script assembled; fails the run when the setup is missing."""
    python, stamp, model_path = VENV / "bin" / "python", VENV / ".installed", VENV / "model-path"
    if not (python.exists() and stamp.exists() and model_path.exists()):
        pytest.fail(
            f"the llama.cpp server is not set up ({VENV} is missing or incomplete); "
            "run `make test-llm`, which runs scripts/setup-llama-server first",
            pytrace=False,
        )
    model = Path(model_path.read_text().strip())
    if not model.is_file():
        pytest.fail(
            f"the model file {model} named in {model_path} is gone; "
            "run scripts/setup-llama-server (or `make test-llm`) again",
            pytrace=False,
        )
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


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server, then SIGKILL it if it has not exited within ``STOP_TIMEOUT_S``."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT_S)


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
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_ready(process, base_url, log)
        yield LlamaServer(base_url=base_url, model=model, log=log)
    finally:
        stop(process)
