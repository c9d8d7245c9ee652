"""Parsing an OpenAI-compatible chat-completions reply into chunks, and the server's errors.

:class:`ReplyStream` reads a streamed reply (server-sent-events lines) or a whole
``chat.completion`` body and yields ``choices[0].delta.content`` as text and streamed
``tool_calls`` assembled into :class:`~graphflow.frames.ToolCall` records. It copes with
arguments split over many chunks, parallel calls interleaved by ``index``, ids and names
sent once, in pieces or repeated whole in every chunk (llama-cpp-python), usage-only
chunks, keep-alive comments and servers that answer with one JSON object instead of a
stream. An error the server reports (mid-stream, or as an HTTP error answer:
:func:`http_error`) becomes a ``ProviderError`` carrying the server's own message:
retryable for 429 and 5xx answers, not for other 4xx answers or request, auth and
permission errors mid-stream; a malformed stream gets a clear retryable message.
"""

from __future__ import annotations

import json
from typing import Any

from graphflow.conversation.model import Chunk
from graphflow.errors import ProviderError
from graphflow.frames import ToolCall


class _Slot:
    """A tool call being assembled from streamed pieces."""

    __slots__ = ("arguments", "id", "name", "sent")

    def __init__(self, call_id: str) -> None:
        self.id = call_id
        self.name = ""
        self.arguments = ""
        self.sent = False


class ReplyStream:
    """Parses one streamed chat-completions reply: lines in, text and finished tool calls out.

    Feed it the response's lines (:meth:`feed`) and then call :meth:`finish`. Tool calls
    are yielded when the choice finishes (``finish_reason``) or, at the latest, by
    :meth:`finish`; ``done`` turns True at ``data: [DONE]``.
    """

    def __init__(self, *, max_tokens: int = 0) -> None:
        self.done = False
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self._max_tokens = max_tokens
        self._event = ""
        self._calls: list[_Slot] = []
        self._by_index: dict[int, _Slot] = {}

    def feed(self, line: str) -> list[Chunk]:
        """The chunks in one server-sent-events line (comments, ``event:`` and blank lines give none)."""
        line = line.rstrip("\r\n")
        if not line.strip():
            self._event = ""
            return []
        if line.startswith(":") or self.done:
            return []
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            self._event = value.strip()
            return []
        if field != "data":
            return []  # id:, retry: and lines that are not SSE fields
        if value.strip() == "[DONE]":
            self.done = True
            return []
        try:
            event = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ProviderError(
                f"malformed chunk in the reply stream: {value[:120]!r}", retryable=True
            ) from exc
        if not isinstance(event, dict):
            raise ProviderError(f"malformed chunk in the reply stream: {value[:120]!r}", retryable=True)
        return self._event_chunks(event)

    def feed_completion(self, body: bytes) -> list[Chunk]:
        """The chunks of a whole ``chat.completion`` object, from servers that do not stream."""
        try:
            event = json.loads(body)
        except json.JSONDecodeError as exc:
            raise ProviderError(f"malformed reply: {body[:120]!r}", retryable=True) from exc
        if not isinstance(event, dict):
            raise ProviderError(f"malformed reply: {body[:120]!r}", retryable=True)
        for choice in event.get("choices") or []:
            if isinstance(choice, dict) and isinstance(choice.get("message"), dict):
                choice["delta"] = choice["message"]
        self.done = True
        return self._event_chunks(event)

    def finish(self) -> list[Chunk]:
        """The tool calls not yet yielded; an error if the stream stopped before the reply was complete."""
        if not self.done and self.finish_reason is None:
            raise ProviderError(
                "the reply stream ended before the reply was complete (no finish_reason, no [DONE])",
                retryable=True,
            )
        return self._flush()

    # ------------------------------------------------------------ helpers
    def _event_chunks(self, event: dict[str, Any]) -> list[Chunk]:
        if self._event == "error" or "error" in event or event.get("object") == "error":
            raise _stream_error(event)
        if isinstance(event.get("usage"), dict):
            self.usage = event["usage"]
        choices = event.get("choices") or []  # usage-only chunks have none
        if not isinstance(choices, list):
            raise ProviderError(f"malformed choices in the reply stream: {choices!r}"[:200], retryable=True)
        out: list[Chunk] = []
        for choice in choices:
            if not isinstance(choice, dict):
                raise ProviderError(f"malformed choice in the reply stream: {choice!r}"[:200], retryable=True)
            if choice.get("index", 0) not in (0, None):
                continue  # only the first choice is spoken
            delta = choice.get("delta") or {}
            if not isinstance(delta, dict):
                raise ProviderError(f"malformed delta in the reply stream: {delta!r}"[:200], retryable=True)
            for key in ("content", "refusal"):
                if isinstance(delta.get(key), str) and delta[key]:
                    out.append(Chunk(delta[key]))
            pieces = delta.get("tool_calls") or []
            if not isinstance(pieces, list):
                raise ProviderError(
                    f"malformed tool_calls in the reply stream: {pieces!r}"[:200], retryable=True
                )
            for piece in pieces:
                self._add_piece(piece)
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
                out += self._flush()
        return out

    def _add_piece(self, piece: object) -> None:
        """Merge one streamed ``tool_calls`` entry into the call it belongs to."""
        if not isinstance(piece, dict):
            raise ProviderError(f"malformed tool call in the reply stream: {piece!r}"[:200], retryable=True)
        call_id = str(piece.get("id") or "")
        index = piece.get("index")
        slot: _Slot | None
        if isinstance(index, int):
            slot = self._by_index.get(index)
            if slot is None or (call_id and slot.id and call_id != slot.id):
                slot = self._new_slot(call_id)  # a new call (some servers reuse index 0 for every call)
                self._by_index[index] = slot
        else:  # no index: the call with this id, a new call, or the latest one
            slot = next((s for s in self._calls if call_id and s.id == call_id), None)
            if slot is None:
                slot = self._new_slot(call_id) if call_id or not self._calls else self._calls[-1]
        if call_id and not slot.id:
            slot.id = call_id
        function = piece.get("function") or {}
        if not isinstance(function, dict):
            raise ProviderError(f"malformed tool call in the reply stream: {piece!r}"[:200], retryable=True)
        name = function.get("name")
        if isinstance(name, str) and name != slot.name:  # llama-cpp-python repeats the whole name
            slot.name += name
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            slot.arguments += arguments
        elif isinstance(arguments, dict):  # some servers send the arguments as an object
            slot.arguments = json.dumps(arguments)

    def _new_slot(self, call_id: str) -> _Slot:
        slot = _Slot(call_id)
        self._calls.append(slot)
        return slot

    def _flush(self) -> list[Chunk]:
        """The assembled calls not yet yielded, checked."""
        out: list[Chunk] = []
        for number, slot in enumerate(self._calls):
            if slot.sent:
                continue
            slot.sent = True
            if not slot.name:
                raise ProviderError(
                    f"the model's tool call #{number} ({slot.id or 'no id'}) has no function name",
                    retryable=True,
                )
            arguments = slot.arguments if slot.arguments.strip() else "{}"
            if self.finish_reason == "length" and not _is_json(arguments):
                raise ProviderError(
                    f"the reply hit max_tokens ({self._max_tokens}) in the middle of the arguments "
                    f"of a call to {slot.name!r}",
                    hint="raise OpenAIChatOptions.max_tokens",
                )
            out.append(Chunk(tool_call=ToolCall(slot.id or f"call_{number}", slot.name, arguments)))
        return out


def _is_json(text: str) -> bool:
    """Whether ``text`` parses as JSON."""
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _error_text(payload: object) -> tuple[str, str]:
    """The message and type of an OpenAI-style error payload (``{"error": {...}}`` or flat)."""
    if isinstance(payload, dict):
        inner = payload.get("error", payload)
        if isinstance(inner, dict):
            message = str(inner.get("message") or json.dumps(inner)[:300])
            return message, str(inner.get("type") or inner.get("code") or "")
        if isinstance(inner, str):
            return inner, ""
    return str(payload)[:300], ""


def _stream_error(event: dict[str, Any]) -> ProviderError:
    """The error a server reported in the middle of a stream."""
    message, kind = _error_text(event)
    permanent = kind in (
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "not_found_error",
    )
    detail = f" ({kind})" if kind else ""
    return ProviderError(
        f"the server reported an error mid-stream{detail}: {message}", retryable=not permanent
    )


_HINTS = {429: "the server is limiting requests; try again later", 401: "check the API key"}


def http_error(base_url: str, status: int, body: bytes) -> ProviderError:
    """The error for an HTTP error answer, with the server's own message when it gave one."""
    text = body.decode(errors="replace")
    try:
        message, _ = _error_text(json.loads(text))
    except json.JSONDecodeError:
        message = text
    return ProviderError(
        f"{base_url} answered HTTP {status}: {message[:300]}",
        hint=_HINTS.get(status, "check the model name and API key" if status < 500 else ""),
        retryable=status >= 500 or status == 429,
    )
