"""Headless Chromium driven over the Chrome DevTools Protocol (a WebSocket, through aiohttp).

The browser joins rooms with a fake microphone playing a WAV file once
(``--use-file-for-fake-audio-capture=FILE%noloop``), grants the microphone without
asking, and plays WebRTC over loopback with no ICE servers. :class:`Page` evaluates
JavaScript in the page and takes screenshots; that is all the tests need.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.waiting import within


def chromium_or_skip() -> str:
    """The Chromium executable; skipped (a failure under ``CI=true``) when it is not installed."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    message = "the playground tests need Chromium (Debian/Ubuntu: apt-get install chromium; make setup does)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}: required in CI", pytrace=False)
    pytest.skip(message)


def flags(profile: Path, audio: Path | None, microphone: bool = True) -> list[str]:
    """Chromium's command-line flags for a headless, loopback-only test browser.

    ``microphone=False``: every permission prompt is refused, as a person clicking "Block" would.
    """
    found = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--mute-audio",
        "--autoplay-policy=no-user-gesture-required",
        "--use-fake-ui-for-media-stream" if microphone else "--deny-permission-prompts",
        "--use-fake-device-for-media-stream",
        "--allow-loopback-in-peer-connection",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        "--window-size=1400,1000",
    ]
    if audio is not None:
        found.append(f"--use-file-for-fake-audio-capture={audio}%noloop")
    return found


class Page:
    """One page target: ``evaluate`` JavaScript, ``navigate``, ``screenshot``."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.console: list[str] = []
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            waiter = self._waiting.pop(data.get("id", -1), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(data)
            elif data.get("method") == "Runtime.consoleAPICalled":
                args = data["params"].get("args", [])
                self.console.append(" ".join(str(a.get("value", a.get("description", ""))) for a in args))
        for waiter in self._waiting.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError("the browser closed the DevTools connection"))

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result (an error raises)."""
        number = next(self._ids)
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[number] = waiter
        await self.ws.send_str(json.dumps({"id": number, "method": method, "params": params}))
        async with within(60, f"the browser to answer {method}"):
            answer = await waiter
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    async def evaluate(self, expression: str) -> Any:
        """The value of ``expression`` in the page (promises awaited)."""
        result = await self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def navigate(self, url: str) -> None:
        """Open ``url`` in the page and wait until it has loaded."""
        await self.call("Page.navigate", url=url)
        async with within(60, f"the page {url} to load"):
            while await self.evaluate("location.href") != url or not await self.evaluate(
                "document.readyState === 'complete'"
            ):
                await asyncio.sleep(0.1)

    async def screenshot(self, path: Path) -> Path:
        """Save a PNG of the page to ``path``."""
        shot = await self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))
        return path

    async def close(self) -> None:
        """Close the DevTools connection."""
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


async def _devtools_port(profile: Path, process: subprocess.Popen[bytes]) -> int:
    marker = profile / "DevToolsActivePort"
    async with within(30, "Chromium to open its DevTools port"):
        while not marker.is_file() or not marker.read_text().strip():
            if process.poll() is not None:
                raise RuntimeError(f"chromium exited with {process.returncode}")
            await asyncio.sleep(0.1)
    return int(marker.read_text().split()[0])


def start_chromium(executable: str, args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Chromium on a blank page, its output in ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen([executable, *args, "about:blank"], stdout=out, stderr=subprocess.STDOUT)


@contextlib.asynccontextmanager
async def browser_page(
    workdir: Path, audio: Path | None = None, *, microphone: bool = True
) -> AsyncIterator[Page]:
    """A headless Chromium with one blank page, for the block; its log goes to ``workdir``."""
    executable = chromium_or_skip()
    profile = workdir / "chromium-profile"
    profile.mkdir(parents=True, exist_ok=True)
    process = start_chromium(executable, flags(profile, audio, microphone), workdir / "chromium.log")
    try:
        port = await _devtools_port(profile, process)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as answer:
                targets = await answer.json(content_type=None)
            url = next(t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page")
            ws = await http.ws_connect(url, max_msg_size=0)
            page = Page(ws)
            try:
                await page.call("Page.enable")
                await page.call("Runtime.enable")
                yield page
            finally:
                await page.close()
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
