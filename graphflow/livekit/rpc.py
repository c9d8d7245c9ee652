"""Typed RPC over a LiveKit room: JSON payloads parsed into msgspec Structs, structured errors.

:class:`RpcMethods` registers handlers on the room's local participant. Each handler
takes the request already decoded into its Struct type (and an :class:`RpcContext`)
and returns a Struct (sent as JSON) or a string. Whatever goes wrong, the caller gets an
``rtc.RpcError`` with a stable code and the agent keeps answering:

* the payload is not JSON, or does not match the request type: :attr:`RpcErrorCode.INVALID_PAYLOAD`
  (2400), the message naming the field;
* the handler raised: ``APPLICATION_ERROR`` (1500), the exception logged here;
* the handler took longer than the method's timeout: ``RESPONSE_TIMEOUT`` (1502).

The error's ``data`` is a JSON :class:`RpcErrorData` (graphflow code, method, field).
:func:`call_method` is the calling side: a bounded call that raises :class:`RpcCallError`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar, overload

import msgspec
from livekit import rtc

from graphflow.errors import ConfigError, GraphflowError

log = logging.getLogger(__name__)

S = TypeVar("S", bound=msgspec.Struct)
R = TypeVar("R", bound=msgspec.Struct)

MAX_MESSAGE_BYTES = 256
"""The longest error message the RPC protocol carries."""


class RpcErrorCode(enum.IntEnum):
    """Codes of the errors a graphflow RPC method answers with.

    LiveKit reserves 1001-1999 for its built-in errors; a malformed request has no
    built-in code, so it gets an application code outside that range.
    """

    INVALID_PAYLOAD = 2400
    """The payload is not JSON or does not match the method's request type."""
    APPLICATION_ERROR = rtc.RpcError.ErrorCode.APPLICATION_ERROR
    """The handler raised."""
    RESPONSE_TIMEOUT = rtc.RpcError.ErrorCode.RESPONSE_TIMEOUT
    """The handler did not answer within the method's timeout."""


class RpcErrorData(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The JSON ``data`` of an error a graphflow RPC method answers with."""

    code: str
    """``rpc.invalid_payload``, ``rpc.handler_failed`` or ``rpc.handler_timeout``."""
    method: str
    field: str = ""
    """JSON path of the offending field of the request (``$.count``), when known."""
    detail: str = ""


class RpcContext(msgspec.Struct, frozen=True, kw_only=True):
    """Who called a method and how long they wait for the answer."""

    method: str
    caller_identity: str
    request_id: str
    response_timeout: float


Handler = Callable[[S, RpcContext], Awaitable[msgspec.Struct | str]]
"""An RPC handler: the decoded request and its context in, a Struct or a string out."""


class RpcMethodStats(msgspec.Struct, kw_only=True):
    """Counters of one registered method."""

    calls: int = 0
    answered: int = 0
    invalid: int = 0
    failed: int = 0
    timed_out: int = 0


class _Method(Generic[S]):
    def __init__(self, name: str, request: type[S], handler: Handler[S], timeout_s: float) -> None:
        self.name, self.request, self.handler, self.timeout_s = name, request, handler, timeout_s
        self.decoder = msgspec.json.Decoder(request)
        self.stats = RpcMethodStats()


class RpcMethods:
    """The typed RPC methods one participant of a connected room answers."""

    def __init__(self, room: rtc.Room, *, default_timeout_s: float = 10.0) -> None:
        if not room.isconnected():
            raise ConfigError(
                "RPC methods are registered on a connected room",
                hint="await connect_room(...) before creating RpcMethods",
            )
        self.room = room
        self.default_timeout_s = default_timeout_s
        self._methods: dict[str, _Method[Any]] = {}

    def register(
        self, name: str, request: type[S], handler: Handler[S], *, timeout_s: float | None = None
    ) -> None:
        """Answer calls of ``name``: payloads are decoded into ``request`` and passed to ``handler``."""
        if name in self._methods:
            raise ConfigError(f"RPC method {name!r} is already registered")
        if not (isinstance(request, type) and issubclass(request, msgspec.Struct)):
            raise ConfigError(f"the request type of RPC method {name!r} must be a msgspec Struct")
        timeout = self.default_timeout_s if timeout_s is None else timeout_s
        if timeout <= 0:
            raise ConfigError(f"the timeout of RPC method {name!r} must be positive, got {timeout}")
        entry = _Method(name, request, handler, timeout)
        self._methods[name] = entry

        async def invoke(data: rtc.RpcInvocationData) -> str:
            return await self._dispatch(entry, data)

        self.room.local_participant.register_rpc_method(name, invoke)

    def method(
        self, name: str, request: type[S], *, timeout_s: float | None = None
    ) -> Callable[[Handler[S]], Handler[S]]:
        """Decorator form of :meth:`register`."""

        def decorate(handler: Handler[S]) -> Handler[S]:
            self.register(name, request, handler, timeout_s=timeout_s)
            return handler

        return decorate

    def unregister(self, name: str) -> None:
        """Stop answering ``name`` (callers then get ``UNSUPPORTED_METHOD``)."""
        if self._methods.pop(name, None) is not None and self.room.isconnected():
            self.room.local_participant.unregister_rpc_method(name)

    def close(self) -> None:
        """Unregister every method."""
        for name in list(self._methods):
            self.unregister(name)

    @property
    def names(self) -> tuple[str, ...]:
        """The registered method names."""
        return tuple(self._methods)

    def stats(self, name: str) -> RpcMethodStats:
        """Counters of the method ``name``."""
        return self._methods[name].stats

    async def _dispatch(self, entry: _Method[Any], data: rtc.RpcInvocationData) -> str:
        entry.stats.calls += 1
        try:
            request = entry.decoder.decode(data.payload or "{}")
        except msgspec.DecodeError as exc:
            entry.stats.invalid += 1
            log.warning("RPC %s from %s: invalid payload: %s", entry.name, data.caller_identity, exc)
            raise invalid_payload_error(entry.name, exc) from None
        context = RpcContext(
            method=entry.name,
            caller_identity=data.caller_identity,
            request_id=data.request_id,
            response_timeout=data.response_timeout,
        )
        try:
            async with asyncio.timeout(entry.timeout_s) as scope:
                result = await entry.handler(request, context)
            answer = result if isinstance(result, str) else msgspec.json.encode(result).decode()
        except rtc.RpcError:
            entry.stats.failed += 1  # the handler's own structured answer: passed on as it is
            raise
        except TimeoutError as exc:
            if not scope.expired():
                raise self._failed(entry, exc) from None
            entry.stats.timed_out += 1
            log.warning(
                "RPC %s from %s: no answer within %g s", entry.name, data.caller_identity, entry.timeout_s
            )
            raise rpc_error(
                RpcErrorCode.RESPONSE_TIMEOUT,
                f"method {entry.name!r} did not answer within {entry.timeout_s:g} s",
                RpcErrorData(code="rpc.handler_timeout", method=entry.name),
            ) from None
        except Exception as exc:
            raise self._failed(entry, exc) from None
        entry.stats.answered += 1
        return answer

    def _failed(self, entry: _Method[Any], exc: Exception) -> rtc.RpcError:
        entry.stats.failed += 1
        log.error("RPC %s: handler failed", entry.name, exc_info=exc)
        cause = exc.code if isinstance(exc, GraphflowError) else ""
        return rpc_error(
            RpcErrorCode.APPLICATION_ERROR,
            f"method {entry.name!r} failed",
            RpcErrorData(code="rpc.handler_failed", method=entry.name, detail=cause),
        )


def rpc_error(code: int, message: str, data: RpcErrorData) -> rtc.RpcError:
    """An ``rtc.RpcError`` with ``message`` cut to what the protocol carries and JSON ``data``."""
    raw = message.encode("utf-8")
    if len(raw) > MAX_MESSAGE_BYTES:
        message = raw[: MAX_MESSAGE_BYTES - 3].decode("utf-8", "ignore") + "..."
    return rtc.RpcError(int(code), message, msgspec.json.encode(data).decode())


_AT = re.compile(r" - at `(\$[^`]*)`")
_FIELD = re.compile(r"field `([^`]+)`")


def invalid_payload_error(method: str, exc: msgspec.DecodeError) -> rtc.RpcError:
    """The error for a payload of ``method`` that could not be decoded (names the field)."""
    text = str(exc)
    path = ""
    if isinstance(exc, msgspec.ValidationError):
        at = _AT.search(text)
        path = at.group(1) if at else "$"
        named = _FIELD.search(text)
        if named:
            path = f"{path}.{named.group(1)}"
    what = text if isinstance(exc, msgspec.ValidationError) else f"not valid JSON ({text})"
    if path not in ("", "$") and path not in what:
        what += f" (field `{path}`)"
    return rpc_error(
        RpcErrorCode.INVALID_PAYLOAD,
        f"invalid payload for {method!r}: {what}",
        RpcErrorData(code="rpc.invalid_payload", method=method, field=path, detail=text[:512]),
    )


def error_data(error: rtc.RpcError) -> RpcErrorData | None:
    """The structured data of an error a graphflow method answered with (``None`` for others)."""
    if not error.data:
        return None
    try:
        return msgspec.json.decode(error.data, type=RpcErrorData)
    except msgspec.DecodeError:
        return None


class RpcCallError(GraphflowError):
    """A call to a remote method failed; ``rpc_code`` is the RPC error code, ``data`` its details."""

    code = "livekit.rpc_failed"

    def __init__(
        self,
        message: str,
        *,
        hint: str = "",
        code: str | None = None,
        retryable: bool | None = None,
        rpc_code: int = 0,
        data: RpcErrorData | None = None,
    ) -> None:
        super().__init__(message, hint=hint, code=code, retryable=retryable)
        self.rpc_code = rpc_code
        self.data = data


@overload
async def call_method(
    room: rtc.Room,
    destination: str,
    method: str,
    request: msgspec.Struct | str = ...,
    *,
    response: type[R],
    timeout_s: float = ...,
) -> R: ...
@overload
async def call_method(
    room: rtc.Room,
    destination: str,
    method: str,
    request: msgspec.Struct | str = ...,
    *,
    response: None = ...,
    timeout_s: float = ...,
) -> str: ...
async def call_method(
    room: rtc.Room,
    destination: str,
    method: str,
    request: msgspec.Struct | str = "",
    *,
    response: type[R] | None = None,
    timeout_s: float = 10.0,
) -> R | str:
    """Call ``method`` on participant ``destination``; the answer decoded as ``response`` if given.

    The call is bounded by ``timeout_s``; any failure is an :class:`RpcCallError`.
    """
    payload = request if isinstance(request, str) else msgspec.json.encode(request).decode()
    where = f"{method!r} on {destination!r}"
    try:
        # the SDK enforces the response timeout itself; the margin covers its round trip
        async with asyncio.timeout(timeout_s + 2.0):
            answer = await room.local_participant.perform_rpc(
                destination_identity=destination, method=method, payload=payload, response_timeout=timeout_s
            )
    except TimeoutError as exc:
        raise RpcCallError(
            f"no answer from {where} within {timeout_s:g} s",
            code="livekit.rpc_timeout",
            retryable=True,
            rpc_code=RpcErrorCode.RESPONSE_TIMEOUT,
        ) from exc
    except rtc.RpcError as exc:
        raise _call_error(where, exc) from None
    if response is None:
        return answer
    try:
        return msgspec.json.decode(answer, type=response)
    except msgspec.DecodeError as exc:
        raise RpcCallError(
            f"the answer of {where} is not a {response.__name__}: {exc}",
            code="livekit.rpc_bad_response",
            hint="the caller and the method disagree on the response type",
        ) from exc


_CALL_CODES: dict[int, tuple[str, str, bool]] = {
    RpcErrorCode.INVALID_PAYLOAD: (
        "livekit.rpc_invalid_payload",
        "fix the request to match the method",
        False,
    ),
    rtc.RpcError.ErrorCode.UNSUPPORTED_METHOD: (
        "livekit.rpc_unsupported_method",
        "the destination has not registered this method",
        False,
    ),
    rtc.RpcError.ErrorCode.RECIPIENT_NOT_FOUND: (
        "livekit.rpc_recipient_not_found",
        "check the destination identity and that it is in the room",
        False,
    ),
    rtc.RpcError.ErrorCode.RESPONSE_TIMEOUT: ("livekit.rpc_timeout", "the method took too long", True),
    rtc.RpcError.ErrorCode.CONNECTION_TIMEOUT: (
        "livekit.rpc_timeout",
        "the destination did not respond",
        True,
    ),
    rtc.RpcError.ErrorCode.RECIPIENT_DISCONNECTED: (
        "livekit.rpc_failed",
        "the destination left the room",
        True,
    ),
}


def _call_error(where: str, exc: rtc.RpcError) -> RpcCallError:
    code, hint, retryable = _CALL_CODES.get(
        exc.code, ("livekit.rpc_failed", "see the destination's log for why the method failed", False)
    )
    return RpcCallError(
        f"call of {where} failed with RPC error {exc.code}: {exc.message}",
        code=code,
        hint=hint,
        retryable=retryable,
        rpc_code=exc.code,
        data=error_data(exc),
    )
