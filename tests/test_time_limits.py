"""Every test runs under a time limit: a hang fails that test by name, and the run goes on."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures import ROOT

HANGS = """
import asyncio
import time

import pytest


@pytest.mark.timeout(1)
def test_sleeps_forever():
    time.sleep(3600)


@pytest.mark.timeout(1)
async def test_awaits_forever():
    await asyncio.Event().wait()


def test_after_the_hangs():
    assert True
"""

BOUND_S = 60.0
"""The whole run of the two hanging tests (each stopped after 1 s) ends well within this."""


def test_the_suite_has_a_default_time_limit(pytestconfig: pytest.Config) -> None:
    assert float(pytestconfig.getini("timeout")) > 0
    assert pytestconfig.getini("timeout_method") == "signal"


def test_a_hanging_test_fails_by_name_within_its_limit(tmp_path: Path) -> None:
    (tmp_path / "test_hang.py").write_text(HANGS)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        str(ROOT / "pyproject.toml"),  # the suite's own settings: timeout method, asyncio mode
        "--rootdir",
        str(tmp_path),
        "-p",
        "pytest_timeout",
        "-p",
        "pytest_asyncio.plugin",
        "-p",
        "no:cacheprovider",
        "-q",
        str(tmp_path / "test_hang.py"),
    ]
    # only the plugins named above, no options from outside, and a wide terminal, so that no
    # summary line is cut short
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", COLUMNS="200")
    env.pop("PYTEST_ADDOPTS", None)
    began = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=BOUND_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the hanging tests were not stopped within {BOUND_S:g} s")
    elapsed = time.monotonic() - began
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    for name in ("test_sleeps_forever", "test_awaits_forever"):
        assert f"FAILED test_hang.py::{name} - Failed: Timeout (>1.0s) from pytest-timeout" in output, output
    assert "2 failed, 1 passed" in output, output
    assert elapsed < BOUND_S
