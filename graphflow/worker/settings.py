"""Worker settings: where the LiveKit server is, who the worker is, and when it reports full.

The server address and keys come from ``LIVEKIT_URL``, ``LIVEKIT_API_KEY`` and
``LIVEKIT_API_SECRET`` like every other LiveKit tool; the rest are typed options.
"""

from __future__ import annotations

import os

import msgspec

from graphflow.errors import ConfigError
from graphflow.redact import redacted

URL_ENV, KEY_ENV, SECRET_ENV = "LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"
"""The environment variables LiveKit tools read."""


@redacted("api_key", "api_secret")
class ServerAccess(msgspec.Struct, frozen=True):
    """The LiveKit server URL and the API key pair that signs the worker's tokens (``repr`` hides both)."""

    url: str
    api_key: str
    api_secret: str

    @classmethod
    def from_env(cls, url: str = "", api_key: str = "", api_secret: str = "") -> ServerAccess:
        """Explicit values first, then ``LIVEKIT_URL``/``LIVEKIT_API_KEY``/``LIVEKIT_API_SECRET``."""
        access = cls(
            url=url or os.environ.get(URL_ENV, ""),
            api_key=api_key or os.environ.get(KEY_ENV, ""),
            api_secret=api_secret or os.environ.get(SECRET_ENV, ""),
        )
        missing = [
            env
            for env, value in (
                (URL_ENV, access.url),
                (KEY_ENV, access.api_key),
                (SECRET_ENV, access.api_secret),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                f"LiveKit server settings missing: {', '.join(missing)}",
                hint="set LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET "
                "(for a local `livekit-server --dev`: ws://127.0.0.1:7880, devkey, secret)",
            )
        if not access.url.startswith(("ws://", "wss://", "http://", "https://")):
            raise ConfigError(
                f"LIVEKIT_URL must start with ws://, wss://, http:// or https://: {access.url!r}"
            )
        return access

    @property
    def ws_url(self) -> str:
        """The server URL with a WebSocket scheme."""
        url = self.url.rstrip("/")
        if url.startswith("http"):
            url = "ws" + url[4:]
        return url

    @property
    def http_url(self) -> str:
        """The server URL with an HTTP scheme (for the server API)."""
        url = self.url.rstrip("/")
        if url.startswith("ws"):
            url = "http" + url[2:]
        return url


class Permissions(msgspec.Struct, frozen=True):
    """What the agent's participant may do in the rooms it joins: only what the voice agent needs.

    It publishes its voice, subscribes to the user's microphone, and sends data
    (transcriptions, chat replies, RPC); it does not change its own name, metadata or
    attributes unless ``can_update_metadata`` is set.
    """

    can_publish: bool = True
    can_subscribe: bool = True
    can_publish_data: bool = True
    can_update_metadata: bool = False
    hidden: bool = False


class LoadOptions(msgspec.Struct, frozen=True):
    """How load is measured and when the worker reports itself full."""

    full_at: float = 0.75
    """Report ``full`` (take no more jobs) at or above this load."""
    lag_budget_ms: float = 40.0
    """Event-loop lag (p99 over the window) that counts as load 1.0."""
    interval_s: float = 2.0
    """How often load is measured and reported to the server."""
    max_jobs: int = 0
    """Take no more than this many jobs at once (0: no limit but load)."""


class ReconnectOptions(msgspec.Struct, frozen=True):
    """Backoff between attempts to reach the server after the connection is lost."""

    first_s: float = 0.25
    max_s: float = 10.0
    factor: float = 2.0


class WorkerOptions(msgspec.Struct, frozen=True):
    """A worker's identity (agent name, namespace), permissions, load, drain and reconnect settings."""

    agent_name: str = ""
    """Empty: automatic dispatch (a job for every new room); a name: explicit dispatch only."""
    namespace: str = ""
    job_type: str = "room"
    """``room`` (one job per room) or ``publisher`` (one job per publishing participant)."""
    version: str = ""
    permissions: Permissions = Permissions()
    load: LoadOptions = LoadOptions()
    reconnect: ReconnectOptions = ReconnectOptions()
    drain_timeout_s: float = 60.0
    """On SIGTERM: how long running jobs may take to finish before they are cancelled."""
    shutdown_timeout_s: float = 10.0
    """How long a job's shutdown callbacks may take."""
    identity_prefix: str = "agent"
    """The agent participant's identity is this prefix and the job id."""
    health_host: str = "127.0.0.1"
    health_port: int = -1
    """Port of the health and metrics endpoint (0: any free port; -1: none)."""
    live_view: bool = False
    """Publish each session's live figures into its room, for the playground's page (docs/playground.md)."""
    redispatch_lost: bool = True
    """With several processes: when one dies, dispatch a new agent to its rooms where a caller waits."""
    session_overrides: tuple[str, ...] = ()
    """``--set key=value`` changes to the options of the sessions jobs start (see ``JobContext``)."""
