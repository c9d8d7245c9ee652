"""Joining a LiveKit room: typed connection settings, end-to-end encryption, clear errors.

:class:`RoomSettings` says where and how to connect (server URL, access token,
auto-subscribe, an optional :class:`E2EESettings` shared key, a timeout);
:func:`connect_room` connects an ``rtc.Room`` with them. A failure is a
:class:`RoomConnectError` whose ``code`` tells the cases apart: the server cannot be
reached, the token is invalid, the token does not grant joining the room, the URL is
malformed, or the whole attempt took longer than its timeout. Tokens and keys never
appear in messages or reprs (:mod:`graphflow.redact`).
"""

from __future__ import annotations

import asyncio

import msgspec
from livekit import rtc

from graphflow.errors import GraphflowError
from graphflow.livekit.e2ee import watch_e2ee
from graphflow.redact import redacted, scrub

DEFAULT_RATCHET_SALT = b"LKFrameEncryptionKey"
"""The key-derivation salt every LiveKit SDK uses unless told otherwise."""
URL_SCHEMES = ("ws://", "wss://", "http://", "https://")
"""The URL schemes a LiveKit server answers on."""


@redacted("shared_key")
class E2EESettings(msgspec.Struct, frozen=True, kw_only=True):
    """End-to-end encryption of the room's media with one key every participant shares.

    Every participant must use the same ``shared_key`` (and ``ratchet_salt``) to hear the
    others; the server only relays encrypted frames. ``failure_tolerance`` is how many
    frames may fail to decrypt before the track is reported broken (-1: never).
    """

    shared_key: bytes
    ratchet_salt: bytes = DEFAULT_RATCHET_SALT
    failure_tolerance: int = -1

    @classmethod
    def shared(cls, key: bytes | str) -> E2EESettings:
        """Settings for ``key``: raw bytes, or a passphrase (encoded as UTF-8)."""
        raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
        if not raw:
            raise RoomConnectError(
                "the end-to-end encryption key is empty",
                code="livekit.bad_settings",
                hint="give every participant the same non-empty shared key",
            )
        return cls(shared_key=raw)

    def to_sdk(self) -> rtc.E2EEOptions:
        """The SDK's encryption options: AES-GCM with a shared-key provider."""
        provider = rtc.KeyProviderOptions(
            shared_key=self.shared_key,
            ratchet_salt=self.ratchet_salt,
            failure_tolerance=self.failure_tolerance,
        )
        return rtc.E2EEOptions(key_provider_options=provider, encryption_type=rtc.EncryptionType.GCM)


@redacted("token")
class RoomSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Where and how to join a room: server URL, access token and connection options.

    ``connect_timeout_s`` bounds the whole attempt (the SDK retries a failed signal
    connection a few times within it). ``e2ee`` turns on end-to-end encryption of media.
    """

    url: str
    token: str
    auto_subscribe: bool = True
    dynacast: bool = False
    e2ee: E2EESettings | None = None
    connect_timeout_s: float = 10.0

    def room_options(self) -> rtc.RoomOptions:
        """The SDK's room options for these settings."""
        return rtc.RoomOptions(
            auto_subscribe=self.auto_subscribe,
            dynacast=self.dynacast,
            encryption=self.e2ee.to_sdk() if self.e2ee is not None else None,
            connect_timeout=self.connect_timeout_s,
        )


class RoomConnectError(GraphflowError):
    """Joining a room failed; ``code`` says why and ``detail`` keeps the SDK's own words.

    Codes: ``livekit.unreachable`` and ``livekit.connect_timeout`` (retryable),
    ``livekit.invalid_token``, ``livekit.permission_denied``, ``livekit.bad_url``,
    ``livekit.bad_settings`` and ``livekit.connect_failed``.
    """

    code = "livekit.connect_failed"

    def __init__(
        self,
        message: str,
        *,
        hint: str = "",
        code: str | None = None,
        retryable: bool | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(message, hint=hint, code=code, retryable=retryable)
        self.detail = detail


async def connect_room(settings: RoomSettings, *, room: rtc.Room | None = None) -> rtc.Room:
    """Connect ``room`` (a new one if not given) with ``settings``; raises :class:`RoomConnectError`.

    Pass your own ``room`` to register event handlers before it connects. The attempt is
    bounded by ``settings.connect_timeout_s``.
    """
    _check_settings(settings)
    room = room if room is not None else rtc.Room()
    if settings.e2ee is not None:
        watch_e2ee(room)  # from before connecting: every participant's decryption state is seen
    try:
        async with asyncio.timeout(settings.connect_timeout_s):
            await room.connect(settings.url, settings.token, settings.room_options())
    except TimeoutError as exc:
        raise RoomConnectError(
            f"no answer from {settings.url} within {settings.connect_timeout_s:g} s",
            code="livekit.connect_timeout",
            retryable=True,
            hint="check that the server is running and reachable from here, "
            "or raise RoomSettings.connect_timeout_s on a slow network",
        ) from exc
    except rtc.ConnectError as exc:
        raise explain_connect_error(settings.url, exc.message) from None
    return room


def explain_connect_error(url: str, sdk_message: str) -> RoomConnectError:
    """The graphflow error for the SDK's connect failure message ``sdk_message``."""
    detail = scrub(sdk_message)
    lowered = detail.lower()
    if "permission" in lowered or "403" in lowered:
        return RoomConnectError(
            f"the access token does not allow joining a room on {url}",
            code="livekit.permission_denied",
            detail=detail,
            hint="issue the token with VideoGrants(room_join=True, room=<room name>)",
        )
    if "401" in lowered or "unauthorized" in lowered or "token" in lowered or "api key" in lowered:
        return RoomConnectError(
            f"the server at {url} rejected the access token ({_reason(detail)})",
            code="livekit.invalid_token",
            detail=detail,
            hint="sign the token with the API key and secret this server is configured with, "
            "and check that it has not expired",
        )
    if "parse the url" in lowered or "invalid url" in lowered:
        return RoomConnectError(
            f"{url!r} is not a valid server URL",
            code="livekit.bad_url",
            detail=detail,
            hint="use ws://host:port (or wss:// behind TLS), e.g. ws://127.0.0.1:7880",
        )
    if any(
        w in lowered for w in ("connection refused", "lookup address", "transport", "timed out", "io error")
    ):
        return RoomConnectError(
            f"cannot reach a LiveKit server at {url} ({_reason(detail)})",
            code="livekit.unreachable",
            retryable=True,
            detail=detail,
            hint="check the URL (host and port) and that the server is running and reachable",
        )
    return RoomConnectError(
        f"connecting to {url} failed: {detail}",
        detail=detail,
        hint="see the server's log for why it refused the connection",
    )


def _reason(detail: str) -> str:
    """The last, most specific part of an SDK error chain (``a: b: c - reason`` → ``reason``)."""
    tail = detail.rsplit(" - ", 1)[-1] if " - " in detail else detail.rsplit(": ", 1)[-1]
    return tail.strip() or detail


def _check_settings(settings: RoomSettings) -> None:
    if not settings.url.startswith(URL_SCHEMES):
        raise RoomConnectError(
            f"{settings.url!r} is not a LiveKit server URL",
            code="livekit.bad_url",
            hint="use ws://host:port (or wss:// behind TLS), e.g. ws://127.0.0.1:7880",
        )
    if not settings.token:
        raise RoomConnectError(
            "no access token given",
            code="livekit.invalid_token",
            hint="create one with livekit.api.AccessToken(key, secret).with_grants(...).to_jwt()",
        )
    if settings.connect_timeout_s <= 0:
        raise RoomConnectError(
            f"connect_timeout_s must be positive, got {settings.connect_timeout_s}",
            code="livekit.bad_settings",
        )
