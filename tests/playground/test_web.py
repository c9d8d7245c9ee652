"""The playground's web server: the page, a token that never carries the secret, the worker's state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import jwt
import pytest

from graphflow.livekit.server import free_port
from graphflow.playground.snapshot import VIEW_ATTRIBUTE
from graphflow.playground.web import PlaygroundServer
from graphflow.worker.health import HealthOptions, HealthServer, WorkerInfo
from graphflow.worker.metrics import WorkerMetrics
from graphflow.worker.settings import ServerAccess

ACCESS = ServerAccess("ws://127.0.0.1:7880", "devkey", "a-secret-the-page-must-never-see")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_the_page_gets_a_token_for_its_room_and_never_the_secret(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    (tmp_path / "index.html").write_text("<title>playground</title>")
    (tmp_path / "app.js").write_text("// app")
    server = PlaygroundServer(ACCESS, dist=tmp_path)
    await server.start()
    try:
        assert server.url.startswith("http://127.0.0.1:")
        async with http.get(server.url) as page:
            assert page.status == 200 and "playground" in await page.text()
        async with http.get(server.url + "assets/app.js") as script:
            assert script.status == 200
        async with http.post(server.url + "api/token", json={"room": "my-room"}) as answer:
            body = await answer.text()
            token = await answer.json()
        assert ACCESS.api_secret not in body
        assert token["url"] == ACCESS.ws_url and token["room"] == "my-room"
        claims = jwt.decode(token["token"], ACCESS.api_secret, algorithms=["HS256"])
        assert claims["sub"] == token["identity"] and claims["iss"] == ACCESS.api_key
        assert claims["video"]["room"] == "my-room" and claims["video"]["roomJoin"] is True
        assert claims["attributes"] == {VIEW_ATTRIBUTE: "1"}
        async with http.post(server.url + "api/token", json={}) as fresh:
            other = await fresh.json()
        assert other["room"].startswith("playground-") and other["identity"] != token["identity"]
        async with http.post(server.url + "api/token", json={"room": "../etc"}) as bad:
            assert bad.status == 400
    finally:
        await server.close()


async def test_an_unbuilt_page_says_how_to_build_it(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    server = PlaygroundServer(ACCESS, dist=tmp_path / "missing")
    await server.start()
    try:
        async with http.get(server.url) as page:
            assert page.status == 503 and "make web" in await page.text()
    finally:
        await server.close()


async def test_the_status_follows_the_workers_health_endpoint(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    port = free_port()
    server = PlaygroundServer(ACCESS, health_url=f"http://127.0.0.1:{port}/", dist=tmp_path)
    await server.start()
    connected = False
    health = HealthServer(
        HealthOptions(port=port), info=lambda: WorkerInfo(connected=connected), metrics=WorkerMetrics()
    )
    try:
        async with http.get(server.url + "api/status") as answer:
            assert (await answer.json())["state"] == "down"
        await health.start()
        async with http.get(server.url + "api/status") as answer:
            assert (await answer.json())["state"] == "starting"
        connected = True
        async with http.get(server.url + "api/status") as answer:
            assert await answer.json() == {"state": "up", "detail": "OK"}
    finally:
        await health.close()
        await server.close()
