"""The playground's web server: the built page, a room token for it, and whether the worker is up.

A small aiohttp application (the library the worker's health endpoint uses), bound to
127.0.0.1. ``GET /`` serves ``web/dist`` (built by ``make web``); ``POST /api/token``
mints a token for one room and a fresh identity, signed here, so the API secret never
reaches the page; ``GET /api/status`` asks the worker's health endpoint whether it is
running and connected, which the page shows while it waits for an agent.
"""

from __future__ import annotations

import logging
import os
import secrets
from datetime import timedelta
from pathlib import Path

import aiohttp
import msgspec
from aiohttp import web
from livekit import api

from graphflow.errors import ConfigError
from graphflow.playground.snapshot import VIEW_ATTRIBUTE
from graphflow.redact import redacted
from graphflow.worker.settings import ServerAccess

log = logging.getLogger("graphflow.playground")

DIST_ENV = "GRAPHFLOW_WEB_DIST"
"""Serve the page from this folder instead of the repository's ``web/dist``."""
TOKEN_TTL = timedelta(hours=2)
"""How long a page's token is valid."""


def dist_dir() -> Path:
    """Where the built page is: ``$GRAPHFLOW_WEB_DIST`` or ``web/dist`` beside the package."""
    explicit = os.environ.get(DIST_ENV)
    return Path(explicit) if explicit else Path(__file__).resolve().parents[2] / "web" / "dist"


class TokenRequest(msgspec.Struct, frozen=True):
    """What the page asks for: a room (empty: a new one) and a display name."""

    room: str = ""
    name: str = ""


@redacted("token")
class TokenAnswer(msgspec.Struct, frozen=True):
    """What the page gets: where the server is, the room, its identity and its token."""

    url: str
    room: str
    identity: str
    token: str


class WorkerStatus(msgspec.Struct, frozen=True):
    """Whether the worker answers its health endpoint, and whether it is connected to the server."""

    state: str
    """``up`` (connected), ``starting`` (answers, not connected), ``down`` or ``unknown`` (no endpoint)."""
    detail: str = ""


def page_token(
    access: ServerAccess, room: str, identity: str, name: str = "", *, view: bool = True, agent_name: str = ""
) -> str:
    """A token for the page: join ``room``, publish the microphone, send chat, ask for the live view.

    ``agent_name``: the room, when this token creates it, dispatches that agent (a worker
    registered for explicit dispatch gets no room otherwise)."""
    grants = api.VideoGrants(
        room_join=True,
        room=room,
        can_publish=True,
        can_subscribe=True,
        can_publish_data=True,
        can_update_own_metadata=True,  # the page turns its live view on and off (an attribute)
    )
    token = api.AccessToken(access.api_key, access.api_secret).with_identity(identity)
    token = token.with_name(name or identity).with_grants(grants).with_ttl(TOKEN_TTL)
    if agent_name:
        dispatch = api.RoomAgentDispatch(agent_name=agent_name)
        token = token.with_room_config(api.RoomConfiguration(agents=[dispatch]))
    return token.with_attributes({VIEW_ATTRIBUTE: "1" if view else "0"}).to_jwt()


class PlaygroundServer:
    """Serves the page and its two API routes on ``host:port`` until :meth:`close`."""

    def __init__(
        self,
        access: ServerAccess,
        *,
        health_url: str = "",
        agent_name: str = "",
        host: str = "127.0.0.1",
        port: int = 0,
        dist: Path | None = None,
    ) -> None:
        self.access = access
        self.health_url = health_url
        self.agent_name = agent_name
        """Dispatch this agent to the page's rooms (empty: the worker takes every room)."""
        self.host = host
        self.port = port
        self.dist = dist or dist_dir()
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        """The page's address (once started)."""
        return f"http://{self.host}:{self.port}/"

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application()
        app.router.add_get("/", self._index)
        app.router.add_post("/api/token", self._token)
        app.router.add_get("/api/status", self._status)
        if self.dist.is_dir():
            app.router.add_static("/assets/", self.dist, show_index=False, follow_symlinks=False)
        return app

    async def start(self) -> None:
        """Bind and serve."""
        if not (self.dist / "index.html").is_file():
            log.warning("the page is not built (%s): run `make web`", self.dist)
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2))

    async def close(self) -> None:
        """Stop serving."""
        runner, self._runner = self._runner, None
        client, self._client = self._client, None
        if client is not None:
            await client.close()
        if runner is not None:
            await runner.cleanup()

    # ---------------------------------------------------------------- routes
    async def _index(self, request: web.Request) -> web.StreamResponse:
        index = self.dist / "index.html"
        if not index.is_file():
            return web.Response(
                status=503, text=f"The playground page is not built ({self.dist}): run `make web`.\n"
            )
        return web.FileResponse(index, headers={"Cache-Control": "no-store"})

    async def _token(self, request: web.Request) -> web.Response:
        try:
            asked = msgspec.json.decode(await request.read() or b"{}", type=TokenRequest)
        except msgspec.ValidationError as exc:
            return web.Response(status=400, text=f"bad token request: {exc}\n")
        room = asked.room or f"playground-{secrets.token_hex(4)}"
        if len(room) > 64 or not all(c.isalnum() or c in "-_" for c in room):
            return web.Response(status=400, text="a room name is letters, digits, - and _ (at most 64)\n")
        identity = f"you-{secrets.token_hex(3)}"
        try:
            token = page_token(self.access, room, identity, asked.name[:64], agent_name=self.agent_name)
        except (ConfigError, ValueError) as exc:
            return web.Response(status=500, text=f"cannot mint a token: {exc}\n")
        answer = TokenAnswer(url=self.access.ws_url, room=room, identity=identity, token=token)
        return web.Response(body=msgspec.json.encode(answer), content_type="application/json")

    async def _status(self, request: web.Request) -> web.Response:
        status = await self.worker_status()
        return web.Response(body=msgspec.json.encode(status), content_type="application/json")

    async def worker_status(self) -> WorkerStatus:
        """Ask the worker's health endpoint how it is."""
        if not self.health_url or self._client is None:
            return WorkerStatus("unknown", "no worker health endpoint is known")
        try:
            async with self._client.get(self.health_url) as answer:
                text = (await answer.text()).strip()
                return WorkerStatus("up" if answer.status == 200 else "starting", text)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return WorkerStatus("down", type(exc).__name__)
