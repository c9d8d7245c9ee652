"""Text to speech through an OpenAI-compatible ``POST /v1/audio/speech`` endpoint.

Each sentence is one request asking for ``response_format: "pcm"`` (raw 24 kHz s16le
mono); the body is streamed with ``httpx.AsyncClient`` and checked before it becomes
audio. Failures are :class:`~graphflow.errors.ProviderError`: retryable for timeouts,
connection failures, 408/429 and 5xx; not for other 4xx or malformed audio.
"""

from __future__ import annotations

import asyncio
import os

import httpx
import numpy as np

from graphflow.errors import ConfigError, ProviderError
from graphflow.frames import AudioFormat, SampleFormat
from graphflow.models import ModelHub
from graphflow.redact import redacted
from nodes.tts.options import SentenceTTSOptions
from nodes.tts.sentences import SentenceTTS

OPENAI_PCM_RATE = 24000
"""``response_format: "pcm"`` is 24 kHz signed 16-bit little-endian mono."""

_NOT_PCM: tuple[str, ...] = ("application/json", "text/", "audio/mpeg", "audio/wav", "audio/x-wav")
_NOT_PCM += ("audio/ogg", "audio/opus", "audio/aac", "audio/flac")


@redacted("api_key")
class OpenAITTSOptions(SentenceTTSOptions, frozen=True):
    """Endpoint and voice; ``api_key`` empty reads ``OPENAI_API_KEY`` (none sent if unset).

    ``repr`` shows a set ``api_key`` as ``'***'`` (:mod:`graphflow.redact`).

    ``timeout_s`` bounds each sentence's request as a whole; ``retries`` more attempts
    are made after a retryable failure, ``retry_backoff_s`` apart (doubling).
    ``expected_first_audio_ms`` only feeds the latency budget: the round trip of the first
    sentence's request (an estimate for a hosted service; measure yours).
    """

    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini-tts"
    voice: str = "alloy"
    api_key: str = ""
    speed: float = 1.0
    instructions: str = ""
    timeout_s: float = 10.0
    retries: int = 0
    retry_backoff_s: float = 0.25
    max_seconds: float = 120.0
    expected_first_audio_ms: int = 400


class OpenAITTS(SentenceTTS):
    """Remote text to speech (OpenAI or a compatible server), 24 kHz mono s16, a request per sentence."""

    Options = OpenAITTSOptions
    options: OpenAITTSOptions

    def __init__(
        self,
        options: OpenAITTSOptions | None = None,
        *,
        name: str | None = None,
        hub: ModelHub | None = None,
    ) -> None:
        super().__init__(options, name=name, hub=hub)
        o = self.options
        if o.timeout_s <= 0 or o.retries < 0 or not 0.25 <= o.speed <= 4.0:
            raise ConfigError(
                f"OpenAITTSOptions out of range: timeout_s={o.timeout_s}, retries={o.retries}, "
                f"speed={o.speed}",
                hint="timeout_s > 0, retries >= 0, speed 0.25-4.0",
            )
        if not o.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url {o.base_url!r} is not an http(s) URL", hint="e.g. http://host/v1")
        self.out.format = AudioFormat(OPENAI_PCM_RATE, 1, SampleFormat.S16)
        self.url = o.base_url.rstrip("/") + "/audio/speech"
        self.client: httpx.AsyncClient | None = None

    async def setup(self) -> None:
        """Open the HTTP client (connections are reused across sentences)."""
        key = self.options.api_key or os.environ.get("OPENAI_API_KEY", "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(self.options.timeout_s))

    async def close(self) -> None:
        """Close the HTTP client."""
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    async def asynthesize(self, text: str) -> np.ndarray:
        """Speak ``text`` remotely, retrying retryable failures ``options.retries`` times."""
        o = self.options
        for attempt in range(o.retries + 1):
            try:
                return await self._request(text)
            except ProviderError as exc:
                if not exc.retryable or attempt == o.retries:
                    raise
            await asyncio.sleep(o.retry_backoff_s * 2**attempt)
        raise AssertionError("unreachable")

    async def _request(self, text: str) -> np.ndarray:
        if self.client is None:
            self.client = httpx.AsyncClient(timeout=httpx.Timeout(self.options.timeout_s))
        o = self.options
        body: dict[str, object] = {
            "model": o.model,
            "voice": o.voice,
            "input": text,
            "response_format": "pcm",
            "speed": o.speed,
        }
        if o.instructions:
            body["instructions"] = o.instructions
        try:
            async with asyncio.timeout(o.timeout_s):
                async with self.client.stream("POST", self.url, json=body) as response:
                    if response.status_code >= 400:
                        detail = (await response.aread())[:300].decode("utf-8", "replace")
                        raise _status_error(self.url, response.status_code, detail)
                    kind = response.headers.get("content-type", "").lower()
                    if kind.startswith(_NOT_PCM):
                        raise ProviderError(
                            f"{self.url} answered with {kind}, not raw PCM",
                            hint='the server must support response_format "pcm" (24 kHz s16le mono)',
                        )
                    limit = int(o.max_seconds * OPENAI_PCM_RATE * 2)
                    data = bytearray()
                    async for chunk in response.aiter_bytes():
                        data += chunk
                        if len(data) > limit:
                            raise ProviderError(f"{self.url} sent more than {o.max_seconds} s of audio")
        except TimeoutError as exc:
            raise ProviderError(
                f"{self.url} did not answer within {o.timeout_s} s",
                hint="the server is slow or unreachable; raise timeout_s or retry",
                retryable=True,
            ) from exc
        except httpx.TimeoutException as exc:
            raise ProviderError(f"{self.url} timed out: {exc}", retryable=True) from exc
        except httpx.HTTPError as exc:  # refused, reset, protocol errors
            raise ProviderError(
                f"cannot reach {self.url}: {type(exc).__name__}: {exc}",
                hint="check base_url and that the server is running",
                retryable=True,
            ) from exc
        return _pcm(bytes(data), self.url)


def _status_error(url: str, status: int, detail: str) -> ProviderError:
    retryable = status >= 500 or status in (408, 429)
    hints = {401: "check api_key / OPENAI_API_KEY", 403: "the key may not have access to this model"}
    return ProviderError(
        f"{url} answered HTTP {status}: {detail.strip()}",
        hint=hints.get(status, "retry later" if retryable else "check model, voice and request options"),
        retryable=retryable,
    )


def _pcm(data: bytes, url: str) -> np.ndarray:
    """Raw s16le bytes as int16 samples, or a ProviderError for a malformed body."""
    if not data:
        raise ProviderError(f"{url} returned an empty audio body", hint="check the input text and model")
    if len(data) % 2:
        raise ProviderError(
            f"{url} returned {len(data)} bytes, an odd count: not 16-bit PCM",
            hint='the server must send response_format "pcm" (24 kHz s16le mono)',
        )
    return np.frombuffer(data, dtype="<i2").astype(np.int16)
