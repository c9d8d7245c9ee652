"""The page when things go wrong: no worker, a refused microphone, a dropped connection.

A real livekit-server and the playground's web server run on 127.0.0.1, with no worker:
the page must say the worker is down, notice when it is back and leave the room made
without it for a fresh one (which a worker would be sent to); a participant with the
agent grant stands in for the agent there, so the page asks for the microphone, which
this browser refuses; and when the server removes the page's participant, the page joins
again by itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from livekit import api, rtc

from graphflow.livekit.server import DEV_KEY, DEV_SECRET, LiveKitServer, ServerOptions, free_port, free_ports
from graphflow.playground.web import PlaygroundServer
from graphflow.worker.health import HealthOptions, HealthServer, WorkerInfo
from graphflow.worker.metrics import WorkerMetrics
from graphflow.worker.settings import ServerAccess
from tests.playground.browser import browser_page
from tests.playground.conftest import prerequisites
from tests.playground.test_page import wait_for

pytestmark = [pytest.mark.livekit, pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveKitServer]:
    """A development livekit-server of the test's own."""
    prerequisites()
    with LiveKitServer(ServerOptions(ports=free_ports()), log=tmp_path / "livekit.log") as running:
        yield running


async def join_as_agent(server: LiveKitServer, room_name: str) -> rtc.Room:
    """A participant with the agent grant in ``room_name`` (what the page waits for)."""
    grants = api.VideoGrants(room_join=True, room=room_name, agent=True)
    token = api.AccessToken(DEV_KEY, DEV_SECRET).with_identity("agent-standin").with_kind("agent")
    token = token.with_grants(grants)
    room = rtc.Room()
    await room.connect(server.url, token.to_jwt())
    return room


async def test_worker_down_refused_microphone_and_a_dropped_connection(
    server: LiveKitServer, tmp_path: Path
) -> None:
    port = free_port()
    access = ServerAccess(server.url, DEV_KEY, DEV_SECRET)
    web = PlaygroundServer(access, health_url=f"http://127.0.0.1:{port}/")
    health = HealthServer(
        HealthOptions(port=port), info=lambda: WorkerInfo(connected=True), metrics=WorkerMetrics()
    )
    room_name = f"faults-{uuid.uuid4().hex[:8]}"
    await web.start()
    agent: rtc.Room | None = None
    lk = api.LiveKitAPI(server.http_url, DEV_KEY, DEV_SECRET)
    try:
        async with browser_page(tmp_path, microphone=False) as page:
            await page.navigate(f"{web.url}?room={room_name}")
            banner = (
                "document.querySelector('#banner').hidden ? '' : document.querySelector('#banner').innerText"
            )
            said = await wait_for(page, banner, "the page to say the worker is down")
            assert "worker is not running" in said
            await wait_for(page, "document.querySelector('#conn').dataset.state === 'ok'", "the page to join")

            await health.start()  # the worker is back: no agent was sent to a room made without it
            await wait_for(page, "document.querySelector('#worker').dataset.state === 'ok'", "worker: up")
            await wait_for(page, "document.body.dataset.joins === '2'", "the page to move to a fresh room")
            room_name = await page.evaluate("document.body.dataset.room")

            agent = await join_as_agent(server, room_name)
            refused = await wait_for(
                page,
                "document.querySelector('#mic-retry').dataset.problem",
                "the refused microphone explained",
            )
            assert "refused the microphone" in refused
            assert not await page.evaluate("document.querySelector('#mic-retry').hidden")

            await lk.room.remove_participant(
                api.RoomParticipantIdentity(room=room_name, identity=await page.evaluate(IDENTITY))
            )
            await wait_for(page, "document.body.dataset.joins === '3'", "the page to join again")
            await wait_for(page, "document.querySelector('#conn').dataset.state === 'ok'", "connected again")
            people = await lk.room.list_participants(api.ListParticipantsRequest(room=room_name))
            assert any(p.identity.startswith("you-") for p in people.participants)
            await page.screenshot(tmp_path / "faults.png")
    finally:
        await lk.aclose()
        if agent is not None:
            await agent.disconnect()
        await health.close()
        await web.close()


IDENTITY = "document.body.dataset.identity"
"""JavaScript: the page's identity in the room."""
BANNER = "document.querySelector('#banner').hidden ? '' : document.querySelector('#banner').innerText"
"""JavaScript: what the banner says (empty while it is hidden)."""
