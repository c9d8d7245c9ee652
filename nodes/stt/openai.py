"""OpenAISTT: an OpenAI-compatible ``/v1/audio/transcriptions`` endpoint on VAD segments.

Each recognition uploads the segment as a 16 kHz mono 16-bit WAV (stdlib ``wave``) in a
multipart form with the model name and language, through one ``httpx.AsyncClient`` per
node. Failures become :class:`~graphflow.errors.ProviderError`: retryable for timeouts,
refused or broken connections, HTTP 429 and 5xx; not retryable for other 4xx answers and
for malformed responses (not JSON, or no ``text``).
"""

from __future__ import annotations

import io
import json
import os
import wave

import httpx
import numpy as np

from graphflow.errors import ConfigError, ProviderError
from graphflow.models import ModelHub
from graphflow.redact import redacted
from nodes.stt.segmenter import RATE, Recognition, SegmentedSTT, SegmentedSTTOptions


@redacted("api_key")
class OpenAISTTOptions(SegmentedSTTOptions, frozen=True):
    """Segmentation settings plus the endpoint, model and credentials (``repr`` hides a set key)."""

    base_url: str = "https://api.openai.com/v1"
    """Everything before ``/audio/transcriptions``."""
    model: str = "whisper-1"
    """Model name sent in the form."""
    language: str = "en"
    """Spoken language code; '' lets the server detect it."""
    api_key: str = ""
    """Bearer token; '' reads ``OPENAI_API_KEY`` (none is sent if that is unset too)."""
    timeout_s: float = 15.0
    """Whole-request timeout per recognition."""
    expected_recognition_ms: int = 800
    """Estimated time to recognize a segment, for the latency budget only: the upload, the
    server's recognition and the answer (an estimate for a hosted service; measure yours)."""


def wav_bytes(pcm: np.ndarray) -> bytes:
    """``pcm`` (float32 in [-1, 1], 16 kHz mono) as a 16-bit WAV file."""
    ints = (np.clip(pcm, -1.0, 1.0) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(ints.tobytes())
    return buffer.getvalue()


class OpenAISTT(SegmentedSTT):
    """Speech to text through an OpenAI-compatible transcription endpoint."""

    Options = OpenAISTTOptions
    options: OpenAISTTOptions

    def __init__(
        self,
        options: OpenAISTTOptions | None = None,
        *,
        name: str | None = None,
        hub: ModelHub | None = None,
    ) -> None:
        super().__init__(options, name=name, hub=hub)
        if self.options.timeout_s <= 0:
            raise ConfigError("OpenAISTTOptions.timeout_s must be > 0")
        self.url = self.options.base_url.rstrip("/") + "/audio/transcriptions"
        self.client: httpx.AsyncClient | None = None

    async def setup(self) -> None:
        """Open the HTTP client."""
        key = self.options.api_key or os.environ.get("OPENAI_API_KEY", "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.AsyncClient(headers=headers, timeout=self.options.timeout_s)

    async def close(self) -> None:
        """Close the HTTP client."""
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    async def recognize(self, pcm: np.ndarray) -> Recognition:
        """Upload ``pcm`` and return the endpoint's text."""
        if self.client is None:
            raise ConfigError(f"{type(self).__name__} used before setup()")
        o = self.options
        form = {"model": o.model, "response_format": "json"}
        if o.language:
            form["language"] = o.language
        files = {"file": ("speech.wav", wav_bytes(pcm), "audio/wav")}
        try:
            response = await self.client.post(self.url, data=form, files=files)
        except httpx.TimeoutException as exc:
            raise ProviderError(
                f"{self.url} did not answer within {o.timeout_s} s",
                hint="the server is slow or unreachable; retry, or raise timeout_s",
                code="provider.timeout",
                retryable=True,
            ) from exc
        except httpx.TransportError as exc:
            raise ProviderError(
                f"cannot reach {self.url}: {type(exc).__name__}: {exc}",
                hint="check base_url and that the server is running",
                code="provider.unreachable",
                retryable=True,
            ) from exc
        return self._parse(response)

    def _parse(self, response: httpx.Response) -> Recognition:
        status = response.status_code
        if status >= 400:
            retryable = status >= 500 or status in (408, 429)
            hint = (
                "check the API key (api_key or OPENAI_API_KEY)"
                if status in (401, 403)
                else ("the server failed; retry later" if retryable else "check model, language and base_url")
            )
            raise ProviderError(
                f"{self.url} answered HTTP {status}: {response.text[:200]}",
                hint=hint,
                code=f"provider.http_{status}",
                retryable=retryable,
            )
        try:
            body = json.loads(response.content)
        except ValueError as exc:
            raise ProviderError(
                f"{self.url} answered with something that is not JSON: {response.text[:120]!r}",
                hint="is base_url an OpenAI-compatible /v1 endpoint?",
                code="provider.bad_response",
            ) from exc
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str):
            raise ProviderError(
                f"{self.url} answered JSON without a 'text' string: {response.text[:120]!r}",
                hint="is base_url an OpenAI-compatible /v1 endpoint?",
                code="provider.bad_response",
            )
        language = body.get("language")
        return Recognition(
            text=text.strip(), language=language if isinstance(language, str) else self.options.language
        )
