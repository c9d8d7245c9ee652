"""The worker's WebSocket to the LiveKit server: ``/agent``, protobuf messages both ways.

The socket is authenticated with a token carrying the agent grant; messages are the
``WorkerMessage``/``ServerMessage`` protobufs of ``livekit.protocol.agent`` sent as
binary frames. A server that refuses the token gets a clear error instead of a retry loop.
"""

from __future__ import annotations

import aiohttp
from livekit import api
from livekit.protocol import agent as proto

from graphflow.errors import GraphflowError
from graphflow.worker.settings import ServerAccess

PROTOCOL_VERSION = 1
"""The agent protocol version this worker speaks."""


class WorkerConnectionError(GraphflowError):
    """The server cannot be reached, refused the worker, or closed the connection."""

    code = "worker.connection"
    retryable = True


class WorkerAuthError(WorkerConnectionError):
    """The server refused the worker's token (wrong key pair or no agent grant)."""

    code = "worker.unauthorized"
    retryable = False


def worker_token(access: ServerAccess, ttl_s: int = 3600) -> str:
    """A token with the agent grant only (no room, no publishing), signed with the worker's API key pair."""
    from datetime import timedelta

    grants = api.VideoGrants(agent=True, can_publish=False, can_subscribe=False, can_publish_data=False)
    token = api.AccessToken(access.api_key, access.api_secret).with_grants(grants)
    return token.with_ttl(timedelta(seconds=ttl_s)).to_jwt()


class AgentSocket:
    """One open ``/agent`` WebSocket: send ``WorkerMessage``, receive ``ServerMessage``."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._http = http
        self._ws = ws

    @classmethod
    async def open(cls, access: ServerAccess, token: str, *, timeout_s: float = 10.0) -> AgentSocket:
        """Connect to ``ACCESS.url/agent`` with ``token``."""
        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=timeout_s))
        url = f"{access.ws_url}/agent?protocol={PROTOCOL_VERSION}"
        try:
            ws = await http.ws_connect(
                url, headers={"Authorization": f"Bearer {token}"}, heartbeat=15.0, max_msg_size=16 << 20
            )
        except aiohttp.WSServerHandshakeError as exc:
            await http.close()
            if exc.status in (401, 403):
                raise WorkerAuthError(
                    f"{access.ws_url} refused the worker's token ({exc.status})",
                    hint="check LIVEKIT_API_KEY/LIVEKIT_API_SECRET; the token must carry the agent grant",
                ) from exc
            raise WorkerConnectionError(
                f"{access.ws_url}/agent answered {exc.status}: {exc.message}"
            ) from exc
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            await http.close()
            raise WorkerConnectionError(
                f"cannot reach {access.ws_url}: {exc}", hint="is the LiveKit server running?"
            ) from exc
        return cls(http, ws)

    async def send(self, message: proto.WorkerMessage) -> None:
        """Send one message (raises WorkerConnectionError if the socket is gone)."""
        try:
            await self._ws.send_bytes(message.SerializeToString())
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            raise WorkerConnectionError(f"lost the connection while sending: {exc}") from exc

    async def receive(self) -> proto.ServerMessage:
        """The next message from the server; WorkerConnectionError when the socket closes."""
        while True:
            msg = await self._ws.receive()
            if msg.type == aiohttp.WSMsgType.BINARY:
                parsed = proto.ServerMessage()
                try:
                    parsed.ParseFromString(msg.data)
                except Exception as exc:  # protobuf raises DecodeError, a plain Exception
                    raise WorkerConnectionError(f"malformed message from the server: {exc}") from exc
                return parsed
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                raise WorkerConnectionError(f"the server closed the connection ({self._ws.close_code})")
            if msg.type == aiohttp.WSMsgType.ERROR:
                raise WorkerConnectionError(f"connection error: {self._ws.exception()}")
            # text frames (JSON) are not used by this worker; ignore them

    async def close(self) -> None:
        """Close the socket and its HTTP session."""
        try:
            await self._ws.close()
        finally:
            await self._http.close()
